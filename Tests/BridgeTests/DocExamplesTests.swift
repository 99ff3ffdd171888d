import BinanceSimulator
import Bridge
import BridgeCore
import Foundation
import RedisClient
import TestSupport
import Testing

/// The docs' examples are run, so they cannot rot: every command of every `sh` block in
/// README.md and docs/*.md either runs here as written — with only the test Redis's address
/// and this test's key prefix put in — or is named, with what runs it instead. A new command
/// in the docs fails `everyDocumentedCommandIsRunOrAccountedFor` until it is one or the other.
/// The alert expressions must name metrics, labels and label values the bridge exports.
@Suite("Docs examples", .timeLimit(.minutes(3)))
struct DocExamplesTests {
    static let root = ExamplesTests.root

    /// One command line of a shell block, without its trailing comment; `output` is a comment
    /// line right after it (the docs show expected output that way).
    struct Command: Sendable, CustomStringConvertible {
        var file: String
        var line: Int
        var text: String
        var output: String?
        var description: String { "\(file):\(line): \(text)" }
    }

    /// Every `sh` block of the docs, in order, as its command lines.
    static func blocks() throws -> [[Command]] {
        let docs = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("docs").path)
            .filter { $0.hasSuffix(".md") }.sorted().map { "docs/" + $0 }
        var blocks: [[Command]] = []
        for file in ["README.md"] + docs {
            let text = try String(contentsOf: root.appendingPathComponent(file), encoding: .utf8)
            var block: [Command]?
            var fenced = false
            var afterCommand = false
            for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let line = raw.trimmingCharacters(in: .whitespaces)
                if line.hasPrefix("```") {
                    if fenced, let finished = block, !finished.isEmpty { blocks.append(finished) }
                    if !fenced { block = ["```sh", "```bash", "```shell"].contains(line) ? [] : nil }
                    fenced.toggle()
                    continue
                }
                guard block != nil, !line.isEmpty else { continue }
                if line.hasPrefix("#") {
                    if afterCommand { block![block!.count - 1].output = String(line.dropFirst()).trimmingCharacters(in: .whitespaces) }
                    afterCommand = false
                    continue
                }
                block!.append(Command(file: file, line: index + 1, text: withoutComment(line)))
                afterCommand = true
            }
        }
        return blocks
    }

    /// `line` up to a ` #` comment outside quotes.
    static func withoutComment(_ line: String) -> String {
        var quote: Character?
        var previous: Character = " "
        for index in line.indices {
            let character = line[index]
            if let open = quote {
                if character == open { quote = nil }
            } else if character == "'" || character == "\"" {
                quote = character
            } else if character == "#", previous == " " {
                return line[..<index].trimmingCharacters(in: .whitespaces)
            }
            previous = character
        }
        return line
    }

    /// Commands this suite runs against a bridge (`bridgeCommandsRunAsDocumented`).
    static let runAgainstABridge = ["redis-cli ", "binance-bridge ctl ", "binance-bridge tail ", "binance-bridge healthcheck", "binance-bridge check-config "]
    /// Commands this suite runs against nothing but the simulator they start.
    static let runAlone = [".build/debug/binance-sim "]
    /// Blocks this suite runs whole, as scripts, when their first command starts so.
    static let scriptBlocks = ["rm -f /tmp/ports.json"]
    /// What runs the rest.
    static let runElsewhere: [(prefix: String, by: String)] = [
        ("scripts/demo.sh", ".ci/run runs it (DEMO_SECONDS=20) and checks the live view"),
        ("scripts/test.sh", ".ci/run: it is CI's test command"),
        ("binance-bridge demo ", "CommandLineToolTests (demo --seconds 5 and 3, plain and on a terminal) and scripts/demo.sh in .ci/run"),
        ("docker compose ", "scripts/validate-containers.sh in CI (docker-compose config -q per profile, hadolint); the services and profiles named are checked here"),
        ("swift build", "scripts/test.sh builds every product before the tests (debug; the release build is Benchmarks/'s)"),
        (".build/release/binance-bridge run ", "its --config file goes through check-config here; the production endpoints it names are unreachable offline"),
        ("Benchmarks/", "benchmark recipes, run by hand; their figures are in Benchmarks/README.md"),
        ("bench/run.sh", "the end-to-end benchmark (minutes of full load on both cores), run by hand; its figures are in docs/benchmarks.md"),
        ("BENCH_", "bench/run.sh with its settings in the environment: run by hand, as above"),
    ]

    @Test func everyDocumentedCommandIsRunOrAccountedFor() throws {
        let blocks = try Self.blocks()
        #expect(blocks.count >= 8, "found \(blocks.count) sh blocks")
        var unaccounted: [Command] = []
        for block in blocks {
            if Self.scriptBlocks.contains(where: { block[0].text.hasPrefix($0) }) { continue }
            for command in block {
                let known = (Self.runAgainstABridge + Self.runAlone).contains { command.text.hasPrefix($0) }
                    || Self.runElsewhere.contains { command.text.hasPrefix($0.prefix) }
                if !known { unaccounted.append(command) }
            }
        }
        #expect(unaccounted.isEmpty, "run these in DocExamplesTests or name what runs them: \(unaccounted)")
        // Each "elsewhere" entry still names a documented command (no stale excuses).
        let all = blocks.flatMap { $0 }
        for (prefix, _) in Self.runElsewhere {
            #expect(all.contains { $0.text.hasPrefix(prefix) }, "no documented command starts with \(prefix)")
        }
    }

    /// Runs `bash -c text` from the repository root; bounded.
    static func shell(_ text: String, environment: [String: String] = [:], timeout: Duration = .seconds(60)) async throws -> (status: Int32, stdout: String, stderr: String) {
        try await ExamplesTests().run("bash", ["-c", text], environment: environment, timeout: timeout)
    }

    /// The README's and the contract's redis-cli and `binance-bridge` tool examples, in
    /// document order, against a bridge fed by the simulator.
    @Test func bridgeCommandsRunAsDocumented() async throws {
        let blocks = try Self.blocks().map { block in block.filter { command in Self.runAgainstABridge.contains { command.text.hasPrefix($0) } } }.filter { !$0.isEmpty }
        #expect(blocks.flatMap { $0 }.count >= 10, "\(blocks)")
        // Each block against a bridge of its own, as a reader following it would start.
        for commands in blocks {
            try await Self.run(commands)
        }
    }

    static func run(_ commands: [Command]) async throws {
        try await withBinanceSimulator(testSimulatorConfiguration()) { simulator in
            let prefix = uniquePrefix()
            let configuration = try BridgeHarness.configuration(simulator: simulator, prefix: prefix)
            try await BridgeHarness.with(configuration) { bridge in
                let url = try RedisURL(parsing: try SharedRedis.urlString())
                guard case .tcp(let host, let port) = url.address else { throw TestError("the examples need a TCP Redis") }
                let httpPort = await bridge.components.http.boundPort()
                let environment = ["BRIDGE_REDIS_URL": try SharedRedis.urlString(), "BRIDGE_REDIS_PREFIX": prefix, "BRIDGE_HTTP_PORT": String(httpPort)]
                let executable = try BridgeProcess.executable().path
                for command in commands {
                    if command.text.hasPrefix("redis-cli ") {
                        // The prefix's keys and channel, on the test Redis.
                        let text = "redis-cli -h \(host) -p \(port) " + command.text.dropFirst("redis-cli ".count).replacingOccurrences(of: "binance:", with: prefix + ":")
                        let result = try await Self.shell(text, timeout: .seconds(30))
                        #expect(result.status == 0 && !result.stdout.isEmpty, "\(command): \(result)")
                        if command.text.contains(" PUBLISH ") { #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "1", "\(command): a bridge listens") }
                        if command.text.contains(" BLPOP ") {
                            let reply = try #require(result.stdout.split(separator: "\n").last.flatMap { JSONValue.parse(Array($0.utf8)) }, "\(command): \(result.stdout)")
                            #expect(reply["ok"] == true, "\(command): \(reply)")
                            if let documented = command.output.flatMap({ JSONValue.parse(Array($0.utf8)) }) {
                                #expect(reply == documented, "\(command): the reply differs from the one documented")
                            }
                        }
                        // The next entry: the `subscribed` marker or a trade, whichever comes first.
                        if command.text.contains(" XREAD ") { #expect(result.stdout.contains("\(prefix):usdm:") && result.stdout.contains("type"), "\(command): \(result.stdout)") }
                        continue
                    }
                    let arguments = command.text.dropFirst("binance-bridge ".count)
                    let follows = arguments.hasPrefix("tail ") && !arguments.contains("--count")
                    let process = try BridgeProcess(arguments: Self.words(String(arguments)), environment: environment, directory: Self.root)
                    if follows {
                        // `tail` without --count follows until interrupted: each stream's
                        // entries appear, then Ctrl-C stops it.
                        let streams = Self.words(String(arguments)).dropFirst().filter { !$0.hasPrefix("-") }
                        try await eventually("\(command) prints every stream", timeout: .seconds(30)) {
                            streams.allSatisfy { process.standardOutput.contains(":\($0) ") }
                        }
                        process.signal(SIGINT)
                        _ = try await CommandLineToolTests.finish(process, within: .seconds(10))
                        continue
                    }
                    let (status, stdout) = try await CommandLineToolTests.finish(process, within: .seconds(30))
                    #expect(status == 0, "\(command) (\(executable)): \(stdout) \(process.standardError)")
                    if arguments.hasPrefix("ctl ") { #expect(JSONValue.parse(Array(stdout.utf8))?["ok"] == true, "\(command): \(stdout)") }
                    if arguments.hasPrefix("tail ") { #expect(stdout.contains("type="), "\(command): \(stdout)") }
                    if arguments.hasPrefix("check-config ") { #expect(stdout.contains("redis.prefix") && stdout.contains(prefix), "\(command): \(stdout)") }
                }
            }
        }
    }

    /// Shell words: split on spaces, single quotes kept together (the docs' commands need no
    /// more).
    static func words(_ text: String) -> [String] {
        var words: [String] = []
        var current = ""
        var quoted = false
        for character in text {
            if character == "'" { quoted.toggle(); continue }
            if character == " ", !quoted {
                if !current.isEmpty { words.append(current) }
                current = ""
            } else {
                current.append(character)
            }
        }
        if !current.isEmpty { words.append(current) }
        return words
    }

    /// The README's `binance-sim` commands: each starts and listens, and SIGTERM stops it
    /// with status 0. A `--config` run gets `--usdm-port 0 --coinm-port 0` appended (flags
    /// win) so it cannot collide with a simulator already on 19001; `/tmp/ports.json` becomes
    /// a file of this test's own.
    @Test func simulatorCommandsRunAsDocumented() async throws {
        let commands = try Self.blocks().flatMap { $0 }.filter { command in Self.runAlone.contains { command.text.hasPrefix($0) } }
        #expect(commands.count >= 2, "\(commands)")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("doc-sim-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for command in commands {
            let portsFile = directory.appendingPathComponent("ports-\(command.line).json").path
            var arguments = Self.words(command.text).dropFirst().map { $0 == "/tmp/ports.json" ? portsFile : $0 }
            if arguments.contains("--config") { arguments += ["--usdm-port", "0", "--coinm-port", "0"] }
            let process = try BridgeProcess(arguments: arguments, executable: "binance-sim", directory: Self.root)
            try await eventually("\(command) listens", timeout: .seconds(20)) { process.standardOutput.contains("binance-sim listening") }
            if arguments.contains(portsFile) {
                let ports = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: portsFile))) as? [String: Any]
                #expect((ports?["usdm"] as? Int ?? 0) > 0, "\(command): \(String(describing: ports))")
            }
            process.signal(SIGTERM)
            let (status, _) = try await CommandLineToolTests.finish(process, within: .seconds(10))
            #expect(status == 0, "\(command): \(process.standardError)")
        }
    }

    /// docs/simulator.md's admin walkthrough, run whole as the script it is, with
    /// `binance-sim` on PATH and its own ports file; the simulator it starts is stopped.
    @Test func simulatorAdminWalkthroughRuns() async throws {
        let blocks = try Self.blocks().filter { block in Self.scriptBlocks.contains { block[0].text.hasPrefix($0) } }
        #expect(blocks.count == 1)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("doc-admin-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let binaries = try BridgeProcess.executable("binance-sim").deletingLastPathComponent().path
        for block in blocks {
            let body = block.map { $0.text.replacingOccurrences(of: "/tmp/ports.json", with: directory.appendingPathComponent("ports.json").path) }
            let script = (["set -eu", "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT"] + body).joined(separator: "\n")
            let result = try await Self.shell(script, environment: ["PATH": binaries + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")], timeout: .seconds(40))
            #expect(result.status == 0, "\(block[0]): \(result)")
            #expect(result.stdout.contains("\"connections\""), "GET /status answered: \(result.stdout)")
            let posts = block.filter { $0.text.contains("-X POST") }.count
            #expect(posts >= 2 && result.stdout.components(separatedBy: "\"ok\":true").count - 1 == posts, "every POST answered ok: \(result.stdout)")
        }
    }

    /// `docker compose` examples name services and profiles docker-compose.yml has (CI
    /// validates the file itself with docker-compose config).
    @Test func composeExamplesNameRealServicesAndProfiles() throws {
        let compose = try String(contentsOf: Self.root.appendingPathComponent("docker-compose.yml"), encoding: .utf8)
        var services: Set<String> = []
        var profiles: Set<String> = []
        var inServices = false
        for line in compose.split(separator: "\n") {
            if !line.hasPrefix(" ") { inServices = line.hasPrefix("services:") }
            if inServices, line.hasPrefix("  "), !line.hasPrefix("   "), line.hasSuffix(":") { services.insert(String(line.dropFirst(2).dropLast())) }
            if let range = line.range(of: "profiles: [") {
                for name in line[range.upperBound...].split(separator: "]")[0].split(separator: ",") { profiles.insert(name.trimmingCharacters(in: CharacterSet(charactersIn: "\" "))) }
            }
        }
        #expect(services.isSuperset(of: ["redis", "bridge", "sim"]) && profiles == ["sim", "monitoring"], "\(services) \(profiles)")
        let commands = try Self.blocks().flatMap { $0 }.filter { $0.text.hasPrefix("docker compose ") }
        #expect(!commands.isEmpty)
        for command in commands {
            let words = Self.words(command.text)
            for (index, word) in words.enumerated() where index + 1 < words.count {
                if word == "--profile" { #expect(profiles.contains(words[index + 1]), "\(command): no profile \(words[index + 1])") }
                if word == "exec" { #expect(services.contains(words[index + 1]), "\(command): no service \(words[index + 1])") }
            }
        }
    }

    /// A metric name and its label matchers in a PromQL expression.
    struct Selector: Sendable, CustomStringConvertible {
        var metric: String
        var labels: [(name: String, negated: Bool, value: String)]
        var description: String { metric + "{" + labels.map { "\($0.name)\($0.negated ? "!=" : "=")\"\($0.value)\"" }.joined(separator: ",") + "}" }
    }

    /// Every `binance_bridge_…` selector in an inline-code span of the docs' prose.
    static func alertSelectors() throws -> [Selector] {
        var selectors: [Selector] = []
        let pattern = try Regex(#"(binance_bridge_[a-z0-9_]+)(\{([^}]*)\})?"#)
        let label = try Regex(#"([a-z_]+)\s*(!?=)\s*"([^"]*)""#)
        for file in ["README.md", "docs/operations.md"] {
            let text = try String(contentsOf: root.appendingPathComponent(file), encoding: .utf8)
            for span in text.split(separator: "`").enumerated().filter({ $0.offset % 2 == 1 }).map(\.element) where span.contains("binance_bridge_") {
                for match in span.matches(of: pattern) {
                    let inner = match.output[3].substring.map(String.init) ?? ""
                    let labels = inner.matches(of: label).map { (String($0.output[1].substring!), $0.output[2].substring! == "!=", String($0.output[3].substring!)) }
                    selectors.append(Selector(metric: String(match.output[1].substring!), labels: labels))
                }
            }
        }
        return selectors
    }

    /// The alert expressions and the metrics table name series a running bridge exports:
    /// each metric has a `# TYPE` line, each label matched on is on its series, and each
    /// value matched with `=` exists from start-up (counters with known labels start at 0, so
    /// `increase(…) > 0` sees their first event).
    @Test func alertExpressionsNameExportedSeries() async throws {
        let selectors = try Self.alertSelectors()
        #expect(selectors.count >= 15, "\(selectors)")
        // A bridge process: the metrics system is bootstrapped by its main, as in production.
        try await withBinanceSimulator(testSimulatorConfiguration()) { simulator in
            let prefix = uniquePrefix()
            let arguments = try BridgeProcessDataTests().arguments(simulator, prefix: prefix)
            let port = try #require(arguments.firstIndex(of: "--http-port").flatMap { Int(arguments[$0 + 1]) })
            let bridge = try BridgeProcess(arguments: arguments)
            defer { bridge.signal(SIGKILL) }
            try await eventually("the bridge listens for commands", timeout: .seconds(30)) { bridge.standardError.contains("listening for commands") }
            try await withRedisConnection(try SharedRedis.configuration()) { redis in
                let reply = try await sendCommand(["op": "subscribe", "streams": ["btcusdt@aggTrade"]], prefix: prefix, redis: redis)
                #expect(reply["ok"] == true, "\(reply.text)")
                try await eventually("data") { try await streamEntries("\(prefix):usdm:btcusdt@aggTrade", redis: redis).count >= 3 }
                // The lag histogram is observed when a batch's reply arrives: wait for it.
                let deadline = ContinuousClock.now + .seconds(20)
                var metrics = try await httpGet(port: port, "/metrics").body
                while !selectors.allSatisfy({ metrics.contains("# TYPE \($0.metric) ") }), ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(200))
                    metrics = try await httpGet(port: port, "/metrics").body
                }
                for selector in selectors { #expect(metrics.contains("# TYPE \(selector.metric) "), "\(selector): not exported") }
                let samples = metrics.split(separator: "\n").filter { !$0.hasPrefix("#") }
                for selector in selectors {
                    let series = samples.filter { $0.hasPrefix(selector.metric + "{") || $0.hasPrefix(selector.metric + " ") || $0.hasPrefix(selector.metric + "_bucket{") }
                    #expect(!series.isEmpty, "\(selector): no series")
                    for matcher in selector.labels {
                        #expect(series.contains { $0.contains("\(matcher.name)=\"") }, "\(selector): no series has label \(matcher.name)")
                        if !matcher.negated {
                            #expect(series.contains { $0.contains("\(matcher.name)=\"\(matcher.value)\"") }, "\(selector): no series with \(matcher.name)=\"\(matcher.value)\" at start-up")
                        }
                    }
                }
            }
        }
    }
}
