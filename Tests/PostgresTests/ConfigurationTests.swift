import Postgres
import Testing

@Suite struct ConfigurationTests {
    @Test func parsesAFullURL() throws {
        let configuration = try PostgresConfiguration(
            "postgres://app:s%40cret@db.example.com:6432/switch%20board?sslmode=require&application_name=sb")
        #expect(configuration["user"] == "app")
        #expect(configuration["password"] == "s@cret")
        #expect(configuration["host"] == "db.example.com")
        #expect(configuration["port"] == "6432")
        #expect(configuration["dbname"] == "switch board")
        #expect(configuration["sslmode"] == "require")
        #expect(configuration["application_name"] == "sb")
    }

    @Test func parsesIPv6AndSeveralHosts() throws {
        let v6 = try PostgresConfiguration("postgresql://[::1]:5433/db")
        #expect(v6["host"] == "::1")
        #expect(v6["port"] == "5433")
        let multi = try PostgresConfiguration("postgres://a:1,b:2/db")
        #expect(multi["host"] == "a,b")
        #expect(multi["port"] == "1,2")
    }

    @Test func acceptsConninfoStrings() throws {
        let configuration = try PostgresConfiguration("host=localhost port=5432 dbname=x user=y")
        #expect(configuration["host"] == "localhost")
        #expect(configuration["dbname"] == "x")
    }

    @Test(arguments: [
        ("mysql://localhost/db", "scheme 'mysql'"),
        ("postgres://localhost:99999/db", "the port is not a number between 1 and 65535"),
        ("postgres://localhost:abc/db", "the port is not a number"),
        ("postgres://[::1/db", "closing ']'"),
        ("postgres://localhost/db?nonsense=1", "unknown query parameter 'nonsense'"),
        ("postgres://localhost/db?sslmode", "has no '=value'"),
        ("postgres://u%zz@localhost/db", "percent-encoding in the user"),
        ("just-a-hostname", "must look like postgres://"),
        ("", "empty"),
        ("host=localhost port", "malformed conninfo"),
    ])
    func rejectsMalformedURLsClearly(input: String, expected: String) {
        let error = #expect(throws: PostgresError.self) { try PostgresConfiguration(input) }
        #expect(error?.kind == .invalidConfiguration)
        #expect(error?.description.contains(expected) == true, "\(error?.description ?? "")")
    }

    @Test func neverShowsThePassword() throws {
        let configuration = try PostgresConfiguration("postgres://app:hunter2@localhost/db")
        #expect(!configuration.description.contains("hunter2"))
        let bad = #expect(throws: PostgresError.self) {
            try PostgresConfiguration("postgres://app:hun%zzter2@localhost:x/db")
        }
        #expect(bad?.description.contains("hun") == false)
    }

    /// Issue 11 §9: a password with an unencoded '/' or '?' was split into "port" or "database"
    /// and echoed ("port 'MyS3cretValue' is not a number"). No part of it may appear in any error.
    @Test(arguments: [
        "postgres://app:MyS3cret/Value@db.example.com:5432/switchboard",
        "postgres://app:MyS3cret/Value@db.example.com/switchboard?sslmode=require",
        "postgres://app:MyS3cretValue/@db.example.com/switchboard",
        "postgres://app:MyS3cret%zzValue@db.example.com/switchboard",
        "postgres://app:MyS3cret@Value/x@db.example.com:notaport/switchboard",
        "postgres://app:MyS3cret@Value@db.example.com:99999/switchboard",
        "postgres://app:MyS3cret/Val?ue@[::1/switchboard",
        "host=db.example.com password=MyS3cret Value",
        "host=db.example.com password='MyS3cretValue",
    ])
    func noPartOfAPasswordAppearsInAnError(input: String) {
        do {
            let configuration = try PostgresConfiguration(input)
            // Parsed (a '?' or '@' inside a password is fine): it must have kept the password whole.
            #expect(configuration["password"]?.hasPrefix("MyS3cret") == true, "\(configuration)")
            #expect(!configuration.description.contains("S3cret"))
        } catch let error as PostgresError {
            for piece in ["MyS3", "S3cr", "cret", "Value", "Valu", "alue"] {
                #expect(!error.description.contains(piece), "\(error.description)")
                #expect(!error.debugDescription.contains(piece), "\(error.debugDescription)")
            }
        } catch {
            Issue.record("unexpected error \(type(of: error))")
        }
    }

    @Test func passwordsWithQuestionMarksAndAtSignsParseAsLibpqDoes() throws {
        let question = try PostgresConfiguration("postgres://app:pa?ss@db.example.com/switchboard")
        #expect(
            question["password"] == "pa?ss" && question["host"] == "db.example.com"
                && question["dbname"] == "switchboard")
        let at = try PostgresConfiguration("postgres://app:p@ss@db.example.com:6543/switchboard")
        #expect(at["password"] == "p@ss" && at["port"] == "6543")
    }

    @Test func conninfoQuotesValuesSoTheyReadBackTheSame() throws {
        let configuration = PostgresConfiguration(parameters: [
            ("host", "/tmp/a dir"), ("user", "o'brien"), ("password", #"back\slash 'and' space"#), ("dbname", "sb"),
        ])
        let read = try PostgresConfiguration(configuration.conninfo)
        // libpq reads keywords back in its own order.
        for (key, value) in configuration.parameters { #expect(read[key] == value, "\(key)") }
        #expect(read.parameters.count == configuration.parameters.count)
    }
}
