/// A consumer's delivered, unacknowledged messages by stream sequence, kept in sequence order.
///
/// Deliveries add sequences in increasing order and acknowledgements mostly remove the oldest, so the
/// entries live in two parallel arrays sorted by sequence: a new sequence above the last is appended, the
/// oldest is found at `head`, and a lookup is a binary search. A removal marks its slot and the arrays are
/// compacted once marked slots outnumber live ones. Against a hash map this saves hashing every delivery and
/// acknowledgement, and the sorts of every save (the keys come out in order).
///
/// Equality, `Codable` and iteration are those of the `[UInt64: ConsumerState.Pending]` it replaces (the
/// legacy JSON state is read and written in the dictionary's form).
public struct PendingMessages: Sendable, Equatable, Codable, ExpressibleByDictionaryLiteral, Sequence {
    public typealias Pending = ConsumerState.Pending

    private var sequences: [UInt64] = []
    private var slots: [Pending?] = []
    /// The first slot that may be live (everything before it is removed).
    private var head = 0
    /// Live entries.
    public private(set) var count = 0

    public init() {}

    public init(dictionaryLiteral elements: (UInt64, Pending)...) {
        for (sequence, pending) in elements { self[sequence] = pending }
    }

    public init(_ dictionary: [UInt64: Pending]) {
        for sequence in dictionary.keys.sorted() { self[sequence] = dictionary[sequence] }
    }

    public var isEmpty: Bool { count == 0 }

    /// The pending sequences, ascending.
    public var keys: [UInt64] {
        var keys: [UInt64] = []
        keys.reserveCapacity(count)
        for index in head..<sequences.count where slots[index] != nil { keys.append(sequences[index]) }
        return keys
    }

    /// The pending entries, in sequence order.
    public var values: [Pending] { map(\.value) }

    /// The oldest pending sequence.
    public var first: UInt64? { count == 0 ? nil : sequences[head] }

    public subscript(sequence: UInt64) -> Pending? {
        get {
            guard let index = slot(of: sequence) else { return nil }
            return slots[index]
        }
        set {
            if let index = slot(of: sequence) {
                if slots[index] == nil, newValue != nil { count += 1 }
                if slots[index] != nil, newValue == nil { count -= 1 }
                slots[index] = newValue
                if newValue == nil { removed() }
                return
            }
            guard let newValue else { return }
            if sequences.last.map({ sequence > $0 }) ?? true {
                sequences.append(sequence)
                slots.append(newValue)
            } else {
                let index = insertionPoint(of: sequence)
                sequences.insert(sequence, at: index)
                slots.insert(newValue, at: index)
            }
            count += 1
        }
    }

    /// Removes `sequence`; its entry when it was pending.
    @discardableResult
    public mutating func removeValue(forKey sequence: UInt64) -> Pending? {
        guard let index = slot(of: sequence), let value = slots[index] else { return nil }
        slots[index] = nil
        count -= 1
        removed()
        return value
    }

    /// Removes every pending sequence at or below `bound`; the removed sequences, ascending.
    public mutating func removeAll(atOrBelow bound: UInt64) -> [UInt64] {
        var done: [UInt64] = []
        var index = head
        while index < sequences.count, sequences[index] <= bound {
            if slots[index] != nil {
                done.append(sequences[index])
                slots[index] = nil
            }
            index += 1
        }
        count -= done.count
        head = index
        removed()
        return done
    }

    public func makeIterator() -> AnyIterator<(key: UInt64, value: Pending)> {
        var index = head
        return AnyIterator {
            while index < sequences.count {
                defer { index += 1 }
                if let value = slots[index] { return (sequences[index], value) }
            }
            return nil
        }
    }

    public static func == (a: PendingMessages, b: PendingMessages) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }

    public init(from decoder: Decoder) throws {
        self.init(try [UInt64: Pending](from: decoder))
    }

    public func encode(to encoder: Encoder) throws {
        try Dictionary(uniqueKeysWithValues: map { ($0.key, $0.value) }).encode(to: encoder)
    }

    // MARK: Slots

    /// The slot holding `sequence` (live or removed), if any.
    private func slot(of sequence: UInt64) -> Int? {
        guard head < sequences.count, sequence >= sequences[head], sequence <= sequences[sequences.count - 1] else { return nil }
        if sequences[head] == sequence { return head }
        let index = insertionPoint(of: sequence)
        return index < sequences.count && sequences[index] == sequence ? index : nil
    }

    /// The first slot at or after `head` whose sequence is not below `sequence`.
    private func insertionPoint(of sequence: UInt64) -> Int {
        var low = head, high = sequences.count
        while low < high {
            let middle = (low + high) / 2
            if sequences[middle] < sequence { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// After a removal: moves `head` past removed slots, and compacts when removed slots outnumber live ones.
    private mutating func removed() {
        while head < sequences.count, slots[head] == nil { head += 1 }
        if head == sequences.count {
            sequences.removeAll(keepingCapacity: true)
            slots.removeAll(keepingCapacity: true)
            head = 0
            return
        }
        if sequences.count - count > count + 32 {
            var kept = 0
            for index in head..<sequences.count where slots[index] != nil {
                sequences[kept] = sequences[index]
                slots[kept] = slots[index]
                kept += 1
            }
            sequences.removeLast(sequences.count - kept)
            slots.removeLast(slots.count - kept)
            head = 0
        }
    }
}
