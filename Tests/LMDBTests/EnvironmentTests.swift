import Foundation
import Testing
@testable import LMDB

@Suite struct EnvironmentTests {
    func withEnvironment(_ body: (Environment) throws -> Void) throws {
        let path = NSTemporaryDirectory() + "lmdb-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: path) }
        try body(try Environment(path: path, mapSize: 16 << 20))
    }

    @Test func putGetDeleteAndCursors() throws {
        try withEnvironment { env in
            let db = try env.openDatabase("t")
            try env.write { (txn) throws in
                for i: UInt8 in [5, 1, 3] { try txn.put(db, key: [i], value: [i, i]) }
            }
            try env.read { (txn) throws in
                #expect(try txn.get(db, key: [3]).map(Array.init) == [3, 3])
                #expect(try txn.get(db, key: [2]) == nil)
                #expect(try txn.count(db) == 3)
                try txn.withCursor(db) { (cursor) throws in
                    #expect(try cursor.seek(atOrAfter: [2])?.key.first == 3)
                    #expect(try cursor.next()?.key.first == 5)
                    #expect(try cursor.next() == nil)
                    #expect(try cursor.seek(atOrBefore: [4])?.key.first == 3)
                    #expect(try cursor.seek(atOrBefore: [0]) == nil)
                    #expect(try cursor.seek(atOrBefore: [9])?.key.first == 5)
                }
            }
            try env.write { (txn) throws in #expect(try txn.delete(db, key: [3])); #expect(try !txn.delete(db, key: [3])) }
            try env.read { (txn) throws in #expect(try txn.count(db) == 2) }
        }
    }

    @Test func failedWriteAbortsAndErrorsCarryTheirCode() throws {
        struct Stop: Error {}
        try withEnvironment { env in
            let db = try env.openDatabase("t")
            #expect(throws: Stop.self) {
                try env.write { (txn) throws in
                    try txn.put(db, key: [1], value: [1])
                    throw Stop()
                }
            }
            try env.read { (txn) throws in #expect(try txn.get(db, key: [1]) == nil) }
            // MDB_APPEND with a key out of order is refused with MDB_KEYEXIST.
            #expect(throws: LMDBError.keyExists) {
                try env.write { (txn) throws in
                    try txn.put(db, key: [5], value: [], append: true)
                    try txn.put(db, key: [4], value: [], append: true)
                }
            }
            #expect(LMDBError.notFound.message.contains("MDB_NOTFOUND"))
        }
    }

    @Test func mapFullIsReported() throws {
        let path = NSTemporaryDirectory() + "lmdb-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let env = try Environment(path: path, mapSize: 256 << 10)
        let db = try env.openDatabase("t")
        #expect(throws: LMDBError.mapFull) {
            try env.write { (txn) throws in
                for i in 0..<10_000 { try txn.put(db, key: Array("key-\(i)".utf8), value: [UInt8](repeating: 1, count: 100)) }
            }
        }
        #expect(throws: LMDBError.self) { _ = try Environment(path: path + "/missing") }
    }
}
