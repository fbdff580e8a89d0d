import Foundation

/// Parses CSV with Python's `csv` module (a standard reader, not ours): what a user's tools see.
public func parseWithStandardCSVReader(_ text: String) throws -> [[String]] {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [
        "python3", "-c",
        "import csv, io, json, sys; print(json.dumps(list(csv.reader(io.StringIO(sys.stdin.read(), newline='')))))",
    ]
    let input = Pipe()
    let output = Pipe()
    process.standardInput = input
    process.standardOutput = output
    try process.run()
    // Written from another thread: a large export would fill the pipe while we wait to read.
    let writer = Thread {
        input.fileHandleForWriting.write(Data(text.utf8))
        try? input.fileHandleForWriting.close()
    }
    writer.start()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw CSVReaderError(description: "python's csv reader refused the text (status \(process.terminationStatus))")
    }
    return try JSONDecoder().decode([[String]].self, from: data)
}

public struct CSVReaderError: Error, CustomStringConvertible {
    public var description: String
}
