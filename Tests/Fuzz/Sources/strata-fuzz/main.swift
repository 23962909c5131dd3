// strata-fuzz <target> [libFuzzer options and corpus directories]
// strata-fuzz --write-seeds <corpus directory>   (the store encodings' seeds, SeedInputs.swift)
//
// Built by `make fuzz` (Tools/fuzz/run.sh) with coverage instrumentation and -DFUZZING, it hands the target to
// libFuzzer's driver (the runtime without its own main: libclang_rt.fuzzer_no_main). Built plainly, it replays
// the files and directories given through the target, one by one, and says how many it ran: the same check as
// the FuzzCorpusTests of `make test`.
#if canImport(FoundationEssentials)
import FoundationEssentials
import Glibc
#else
import Foundation
#endif
import FuzzTargets
import Platform

let arguments = CommandLine.arguments
if arguments.count == 3, arguments[1] == "--write-seeds" {
    for (target, inputs) in SeedInputs.all() {
        let directory = "\(arguments[2])/\(target.rawValue)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for (index, input) in inputs.enumerated() {
            FileManager.default.createFile(atPath: "\(directory)/seed-encoder-\(index)", contents: Data(input))
        }
        print("\(target.rawValue): \(inputs.count) seeds")
    }
    exit(0)
}
// The target is named first; libFuzzer's own child processes (`-merge=1`, `-fork=N`) are started with the options
// only, so they find it in the environment the first process set.
let named = arguments.count >= 2 ? FuzzTarget(rawValue: arguments[1]) : nil
guard let target = named ?? ProcessInfo.processInfo.environment[FuzzTarget.environmentVariable].flatMap(FuzzTarget.init(rawValue:)) else {
    let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
    OutputDescriptor.standardError.write("usage: strata-fuzz <target> [libFuzzer options] [corpus...]\ntargets: \(names)\n")
    exit(2)
}
setenv(FuzzTarget.environmentVariable, target.rawValue, 1)
let options = Array(arguments.dropFirst(named == nil ? 1 : 2))

#if FUZZING
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

nonisolated(unsafe) var selected = target
// libFuzzer sees the program name and the options after the target's name.
var driverArguments: [UnsafeMutablePointer<CChar>?] = ([arguments[0]] + options).map { strdup($0) } + [nil]
var count = CInt(driverArguments.count - 1)
let status = driverArguments.withUnsafeMutableBufferPointer { buffer -> CInt in
    var argv = buffer.baseAddress!
    return LLVMFuzzerRunDriver(&count, &argv) { data, size in
        selected.run(size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size)))
        return 0
    }
}
exit(status)
#else
var ran = 0
for path in options {
    guard FileManager.default.fileExists(atPath: path) else {
        OutputDescriptor.standardError.write("strata-fuzz: no such file or directory: \(path)\n")
        exit(1)
    }
    let listing = try? FileManager.default.contentsOfDirectory(atPath: path)
    let files = listing.map { $0.sorted().map { "\(path)/\($0)" } } ?? [path]
    for file in files {
        guard let data = FileManager.default.contents(atPath: file) else { continue }
        target.run(Array(data))
        ran += 1
    }
}
print("\(target.rawValue): \(ran) inputs, no invariant broken")
#endif
