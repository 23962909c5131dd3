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

    /// A write that does not fit a small map fails with `mapFull` and changes nothing; through
    /// `writeGrowingMap` it runs again on a grown map until it fits, and the file grows with it.
    @Test func smallMapGrowsForAWriteThatDoesNotFit() throws {
        let path = NSTemporaryDirectory() + "lmdb-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let env = try Environment(path: path, mapSize: 64 << 10, durability: .deferred)
        let db = try env.openDatabase("t")
        let value = [UInt8](repeating: 7, count: 1000)
        func fill(_ txn: Transaction) throws {
            for i in 0..<2000 { try txn.put(db, key: withUnsafeBytes(of: UInt64(i).bigEndian, Array.init), value: value) }
        }
        #expect(throws: LMDBError.mapFull) { try env.write(fill) }
        #expect(try env.read { try $0.count(db) } == 0)
        #expect(env.mapSize == 64 << 10)
        var runs = 0
        try env.writeGrowingMap { txn in runs += 1; try fill(txn) }
        #expect(runs > 1)
        #expect(try env.read { try $0.count(db) } == 2000)
        #expect(env.mapSize >= 2 << 20 && env.mapSize <= 8 << 20)
        let size = try #require(try FileManager.default.attributesOfItem(atPath: path + "/data.mdb")[.size] as? Int)
        #expect(size == env.mapSize)
    }

    @Test func aSmallMapGrowsByHalvesAndALargeOneByQuarters() {
        #expect(Environment.grownMapSize(from: 64 << 10) == 96 << 10)
        #expect(Environment.grownMapSize(from: 96 << 10) == 144 << 10)
        #expect(Environment.grownMapSize(from: 4096) == 8192)
        #expect(Environment.grownMapSize(from: 729 << 10) % 4096 == 0)
        #expect(Environment.grownMapSize(from: 1 << 20) == 2 << 20)
        #expect(Environment.grownMapSize(from: 3 << 20) == 4 << 20)
        #expect(Environment.grownMapSize(from: 64 << 20) == 80 << 20)
        #expect(Environment.grownMapSize(from: (10 << 20) + 4096) % 4096 == 0)
    }

    /// One transaction far larger than the map: the first growth is the small step, the next ones double, so
    /// it commits after a few runs; and a later small write past the end grows the map by the small step only.
    @Test func aLargeTransactionDoublesTheMapAfterItsFirstGrowth() throws {
        let path = NSTemporaryDirectory() + "lmdb-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let env = try Environment(path: path, mapSize: 64 << 10, durability: .deferred)
            let db = try env.openDatabase("t")
            var runs = 0
            try env.writeGrowingMap { txn in
                runs += 1
                for i in 0..<60_000 { try txn.put(db, key: withUnsafeBytes(of: UInt64(i).bigEndian, Array.init), value: [UInt8](repeating: 7, count: 100)) }
            }
            #expect(try env.read { try $0.count(db) } == 60_000)
            // ~8 MiB of pages from a 64 KiB map: the small steps alone take 14 runs, doubling after the
            // first takes about 8.
            #expect(runs <= 10)
            let filled = env.mapSize
            var fillRuns = 0
            var next = 60_000
            while env.mapSize == filled {
                try env.writeGrowingMap { txn in
                    fillRuns += 1
                    for i in next..<(next + 2_000) { try txn.put(db, key: withUnsafeBytes(of: UInt64(i).bigEndian, Array.init), value: [UInt8](repeating: 7, count: 100)) }
                }
                next += 2_000
            }
            #expect(env.mapSize == Environment.grownMapSize(from: filled))
        }
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

    /// A database that grew and was emptied keeps its pages in the file; compaction gives them back, keeps
    /// every committed value and every handle valid, and the file reopens as compacted.
    @Test func compactionGivesBackFreePagesAndKeepsDataAndHandles() throws {
        let path = NSTemporaryDirectory() + "lmdb-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let env = try Environment(path: path, mapSize: 64 << 20, durability: .deferred)
            let (a, b) = try env.write { (txn) throws in
                (try txn.openDatabase("a", create: true), try txn.openDatabase("b", create: true, sortedFixedDuplicates: true))
            }
            try env.write { (txn) throws in
                for i in 0..<50_000 { try txn.put(a, key: Self.key(i), value: [UInt8](repeating: 7, count: 40)) }
                try txn.put(b, key: [1], value: Self.key(1))
                try txn.put(b, key: [1], value: Self.key(2))
            }
            try env.write { (txn) throws in for i in 0..<49_990 { _ = try txn.delete(a, key: Self.key(i)) } }
            let before = try env.pages(of: [a, b])
            #expect(before.file > before.live * 4)
            try env.compact(databases: [("a", a, false), ("b", b, true)])
            let after = try env.pages(of: [a, b])
            #expect(after.file < before.file / 4 && after.live <= before.live)
            try env.read { (txn) throws in
                #expect(try txn.count(a) == 10)
                #expect(try txn.get(a, key: Self.key(49_995)).map(Array.init) == [UInt8](repeating: 7, count: 40))
                try txn.withCursor(b) { (cursor) throws in
                    #expect(try cursor.seek(atOrAfter: [1])?.value.count == 8)
                    #expect(try cursor.nextDuplicate() != nil)
                }
            }
            try env.write { (txn) throws in try txn.put(a, key: Self.key(1), value: [1]) }  // still writable
            try env.sync()
        }
        let reopened = try Environment(path: path, mapSize: 64 << 20, durability: .deferred)
        let a = try reopened.openDatabase("a", create: false)
        try reopened.read { (txn) throws in #expect(try txn.count(a) == 11) }
        #expect(!FileManager.default.fileExists(atPath: path + ".compact"))
    }

    static func key(_ i: Int) -> [UInt8] {
        var key: [UInt8] = []
        withUnsafeBytes(of: UInt64(i).bigEndian) { key.append(contentsOf: $0) }
        return key
    }
}
