#!/usr/bin/env python3
"""Writes golden-v1.seg from Specs/SegmentFormat.md alone (independent of the Swift encoder).

The segment holds, after its header:
  frame 1 (codec none): message seq 1 "orders.new" id "m-1" headers "NATS/1.0\\r\\nA: b\\r\\n\\r\\n" payload "hello"
                        message seq 2 "orders.old" payload "world"
  frame 2 (codec none): removal [1..1]
                        message seq 3 "orders.new" payload "again"
Run it again only when the spec's format version changes.
"""
import struct, os

def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF

assert crc32c(b"123456789") == 0xE3069283

def segment_header(first):
    head = b"STRATSEG" + struct.pack("<HHIQI", 1, 0, 0, first, 0)
    return head + struct.pack("<I", crc32c(head))

def message(seq, ts, subject, payload, headers=b"", msgid=b""):
    s = subject.encode()
    return struct.pack("<BBHIIHHQq", 1, 0, len(s), len(headers), len(payload), len(msgid), 0, seq, ts) + s + msgid + headers + payload

def removal(ranges):
    return struct.pack("<B3xI", 2, len(ranges)) + b"".join(struct.pack("<QQ", a, b) for a, b in ranges)

def frame(records):
    area = b"".join(records)
    head = struct.pack("<IB3xIIIII", 0x4D524653, 0, 0, len(records), len(area), len(area), 0)
    return head + struct.pack("<I", crc32c(head + area)) + area

T = 1_700_000_000_000_000_000
data = segment_header(1)
data += frame([message(1, T, "orders.new", b"hello", b"NATS/1.0\r\nA: b\r\n\r\n", b"m-1"),
               message(2, T + 1000, "orders.old", b"world")])
data += frame([removal([(1, 1)]), message(3, T + 2000, "orders.new", b"again")])
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden-v1.seg"), "wb") as f:
    f.write(data)
print(len(data), "bytes")
