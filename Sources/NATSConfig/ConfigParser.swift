/// Reads nats-server's configuration format into a ``ConfigMap``. Pure: files are read, and environment
/// variables looked up, through what the caller hands in, so tests need no disk.
///
/// The format, as nats-server 2.9's `conf` package reads it:
/// - entries `key: value`, `key = value` or `key value`, one per line or separated by `,` or `;`;
///   a block may follow its key directly (`jetstream { … }`); keys may be quoted;
/// - blocks `{ }`, arrays `[ ]` (values separated by `,` or new lines), and the whole file may be wrapped
///   in one pair of braces, so JSON is a subset;
/// - `#` and `//` comments to the end of the line;
/// - strings in double quotes (escapes `\t \n \r \" \\ \xHH`), in single quotes (as written), bare (up to
///   white space, a new line, `,`, `;`, `]` or `}`), and `(` … `)` blocks whose `)` is alone on its line;
/// - integers with an optional size suffix (`k`=1000, `kb`/`ki`/`kib`=1024, likewise m, g, t, p, e), floats,
///   booleans (`true`/`false`, `yes`/`no`, `on`/`off`); any other bare word starting with a digit is a
///   string (`30s`, `127.0.0.1:4222`);
/// - variables: a bare `$NAME` takes the value of `NAME` defined earlier in an enclosing block (innermost
///   first), else of the environment variable (read as a value of this format); `$2a$…` is a bcrypt hash,
///   a plain string;
/// - `include <path>` merges another file's entries here; a relative path is taken from the including
///   file's directory. An include loop is an error (nats-server recurses until it runs out of stack).
///
/// Every error carries the file, line and column where it was found.
public struct ConfigParser {
    /// Returns the text of the file at a path, or throws (any error: the parser reports it at the include).
    public typealias ReadFile = (String) throws -> String

    public var environment: [String: String]
    public var readFile: ReadFile
    /// Environment variables being read (one that refers to itself, directly or not, is an error).
    var resolving: Set<String> = []

    public init(environment: [String: String], readFile: @escaping ReadFile) {
        self.environment = environment
        self.readFile = readFile
    }

    /// Parses the file at `path`.
    public func parse(file path: String) throws(ConfigError) -> ConfigMap {
        let text: String
        do { text = try readFile(path) } catch {
            throw ConfigError("cannot read config file: \(error)", at: SourceLocation(file: path, line: 0, column: 0))
        }
        return try parse(text, file: path, including: [Self.normalized(path)])
    }

    /// Parses `text` as the contents of a file named `file` (includes are relative to its directory).
    public func parse(_ text: String, file: String) throws(ConfigError) -> ConfigMap {
        try parse(text, file: file, including: [Self.normalized(file)])
    }

    func parse(_ text: String, file: String, including: [String]) throws(ConfigError) -> ConfigMap {
        var reader = ConfigReader(text: text, file: file, parser: self, including: including)
        return try reader.readFile()
    }

    /// `path` with `.` and `..` components and repeated slashes removed (to recognise an include loop).
    static func normalized(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == "..", let last = parts.last, last != ".." { parts.removeLast(); continue }
            parts.append(part)
        }
        return (path.hasPrefix("/") ? "/" : "") + parts.joined(separator: "/")
    }

    /// The directory part of `path` ("" for a bare file name).
    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        return String(path[...slash])
    }
}
