/// Where something was written in a config file: the file's path as it was given (or included), and a
/// 1-based line and column (columns count characters, not bytes).
public struct SourceLocation: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    /// `file:line:column`, the form compilers and editors jump to.
    public var description: String { "\(file):\(line):\(column)" }
}
