/// Comparing secrets (signatures, tokens) without an early exit, so timing reveals nothing about
/// where two strings differ.
public enum ConstantTime {
    public static func equals(_ a: some StringProtocol, _ b: some StringProtocol) -> Bool {
        let left = Array(a.utf8)
        let right = Array(b.utf8)
        guard left.count == right.count else { return false }
        var difference: UInt8 = 0
        for index in left.indices { difference |= left[index] ^ right[index] }
        return difference == 0
    }
}
