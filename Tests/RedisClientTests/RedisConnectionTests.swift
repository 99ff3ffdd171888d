import Foundation
import Testing
@testable import RedisClient
import TestSupport

/// Against a real `redis-server` (the one scripts/test.sh started, or one per test process).
@Suite("RedisConnection against redis-server", .timeLimit(.minutes(2)))
struct RedisConnectionTests {
    @Test func pipelinedXAddsRoundTripByteForByte() async throws {
        try await withRedisConnection(SharedRedis.configuration()) { redis async throws in
            let key = SharedRedis.uniqueKey("xadd")
            defer { Task { _ = try? await RedisConnection(configuration: redis.configuration).send("DEL", key) } }
            let allBytes = (0...255).map { UInt8($0) }
            let large = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            let total = 100_000
            // Entry i: ("i", i), ("bin", all 256 byte values rotated by i), ("empty", "");
            // entry 77 also carries a 1 MiB value.
            func fields(_ i: Int) -> [[UInt8]] {
                var result: [[UInt8]] = [Array("i".utf8), Array(String(i).utf8), Array("bin".utf8),
                                         Array(allBytes[(i % 256)...] + allBytes[..<(i % 256)]), Array("empty".utf8), []]
                if i == 77 { result += [Array("large".utf8), large] }
                return result
            }
            var batch = RedisCommandBatch(reservingCapacity: 1 << 20)
            var written = 0
            for i in 0..<total {
                let f = fields(i)
                batch.beginXAdd(key: key, maxlen: nil, fieldCount: f.count / 2)
                for value in f { batch.appendArgument(bytes: value) }
                if batch.count == 10_000 || i == total - 1 {
                    let summary = try await redis.execute(batch)
                    #expect(summary.failures.isEmpty)
                    written += summary.succeeded
                    batch.removeAll()
                }
            }
            #expect(written == total)
            #expect(try await redis.send("XLEN", key).integer == Int64(total))

            // Read everything back in pages and compare field by field.
            var checked = 0
            var start = "-"
            while checked < total {
                let page = try await redis.send("XRANGE", key, start, "+", "COUNT", "5000")
                let entries = try #require(page.array)
                for entry in entries {
                    let pair = try #require(entry.array)
                    let values = try #require(pair[1].array).map { try #require($0.bytes) }
                    #expect(values == fields(checked), "entry \(checked) differs")
                    checked += 1
                    start = "(" + (pair[0].string ?? "")
                }
                if entries.isEmpty { break }
            }
            #expect(checked == total)
        }
    }

    @Test func approximateMaxlenBoundsTheStream() async throws {
        try await withRedisConnection(SharedRedis.configuration()) { redis async throws in
            let key = SharedRedis.uniqueKey("maxlen")
            var batch = RedisCommandBatch()
            for i in 0..<20_000 { batch.appendXAdd(key: key, maxlen: 1_000, fields: [("n", String(i))]) }
            _ = try await redis.execute(batch)
            let length = try #require(try await redis.send("XLEN", key).integer)
            // `~` trims whole radix-tree nodes (stream-node-max-entries, 100 by default).
            #expect(length >= 1_000 && length <= 1_100, "XLEN \(length)")
            let last = try #require(try await redis.send("XREVRANGE", key, "+", "-", "COUNT", "1").array?.first?.array)
            #expect(last[1].array?.last?.string == "19999")
            try await redis.send("DEL", key)
        }
    }

    @Test func serverErrorsStayPerCommandInPipelinesAndThrowForSingleCommands() async throws {
        try await withRedisConnection(SharedRedis.configuration()) { redis async throws in
            let key = SharedRedis.uniqueKey("wrongtype")
            try await redis.send("SET", key, "plain")
            var batch = RedisCommandBatch()
            batch.append(["GET", key])
            batch.appendXAdd(key: key, maxlen: 10, fields: [("a", "1")])
            batch.append(["NOSUCHCOMMAND"])
            batch.append(["GET", key])
            let replies = try await redis.pipeline(batch)
            #expect(replies.count == 4)
            #expect(replies[0] == .bulkString(Array("plain".utf8)))
            #expect(replies[1].serverError?.serverErrorCode == "WRONGTYPE")
            #expect(replies[2].serverError?.serverErrorCode == "ERR")
            #expect(replies[3] == .bulkString(Array("plain".utf8)))

            let summary = try await redis.execute(batch)
            #expect(summary.count == 4 && summary.failures.map(\.index) == [1, 2])
            #expect(summary.failures[0].error.isServerError)
            #expect(summary.failures.map(\.error.serverErrorCode) == ["WRONGTYPE", "ERR"])
            #expect(summary.failures[0].error.message.hasPrefix("WRONGTYPE Operation against a key"))

            await #expect { try await redis.send("XADD", key, "*", "a", "1") } throws: { error in
                let error = error as? RedisClientError
                return error?.isServerError == true && error?.serverErrorCode == "WRONGTYPE"
            }
            // The connection is still fine after error replies.
            #expect(try await redis.send("GET", key) == .bulkString(Array("plain".utf8)))
            try await redis.send("DEL", key)
        }
    }

    @Test func selectsTheDatabaseFromTheURL() async throws {
        let server = try RedisServerProcess()
        try server.start()
        var db3 = server.configuration()
        db3.url.database = 3
        try await withRedisConnection(db3) { redis async throws in try await redis.send("SET", "where", "three") }
        try await withRedisConnection(server.configuration()) { redis async throws in
            #expect(try await redis.send("GET", "where") == .null)
            try await redis.send("SELECT", "3")
            #expect(try await redis.send("GET", "where").string == "three")
        }
    }

    @Test func connectsOverUnixSocket() async throws {
        let socketPath = FileManager.default.temporaryDirectory.appendingPathComponent("redis-\(UUID().uuidString.prefix(8)).sock").path
        let server = try RedisServerProcess(arguments: ["--unixsocket", socketPath, "--unixsocketperm", "700"])
        try server.start()
        let url = try RedisURL(parsing: "unix://\(socketPath)?db=2")
        try await withRedisConnection(RedisConnectionConfiguration(url: url)) { redis async throws in
            #expect(try await redis.send("PING") == .status("PONG"))
            try await redis.send("SET", "k", "v")
        }
        try await withRedisConnection(server.configuration()) { redis async throws in
            try await redis.send("SELECT", "2")
            #expect(try await redis.send("GET", "k").string == "v")
        }
    }

    @Test func authenticatesAndReportsBadCredentialsClearly() async throws {
        let server = try RedisServerProcess(arguments: ["--requirepass", "s3cret"])
        try server.start()

        try await withRedisConnection(server.configuration(password: "s3cret")) { redis async throws in
            #expect(try await redis.send("PING") == .status("PONG"))
        }
        try await withRedisConnection(server.configuration(password: "s3cret", user: "default")) { redis async throws in
            #expect(try await redis.send("PING") == .status("PONG"))
        }
        try await withRedisConnection(server.configuration(password: "wrong")) { redis async throws in
            await #expect { try await redis.connect() } throws: { error in
                let error = error as! RedisClientError
                return error.code == .authenticationFailed && error.serverErrorCode == "WRONGPASS"
                    && error.message.contains("AUTH") && !error.message.contains("wrong@")
            }
        }
        try await withRedisConnection(server.configuration()) { redis async throws in
            await #expect { try await redis.send("SET", "a", "b") } throws: { error in
                let error = error as! RedisClientError
                return error.code == .authenticationFailed && error.serverErrorCode == "NOAUTH"
                    && error.message.contains("requires authentication")
            }
        }
    }

    @Test func refusedConnectionFailsClearlyThenSucceedsOnceTheServerAppears() async throws {
        let server = try RedisServerProcess()
        try await withRedisConnection(server.configuration()) { redis async throws in
            await #expect { try await redis.send("PING") } throws: { error in
                let error = error as! RedisClientError
                return error.code == .connectionFailed && error.message.contains("127.0.0.1:\(server.port)")
                    && error.message.contains("refused")
            }
            try server.start()
            #expect(try await redis.send("PING") == .status("PONG"))
        }
    }

    @Test func serverDyingMidPipelineIsAnErrorNotACrash() async throws {
        let server = try RedisServerProcess()
        try server.start()
        try await withRedisConnection(server.configuration(commandTimeout: .seconds(10))) { redis async throws in
            try await redis.connect()
            // ~256 MiB of XADDs: far more than the socket buffers, so the write is in progress
            // when the server dies; the batch must fail with a connection error and the next
            // command must reconnect.
            var batch = RedisCommandBatch(reservingCapacity: 1 << 20)
            let value = [UInt8](repeating: 0x61, count: 1 << 20)
            for _ in 0..<256 {
                batch.beginXAdd(key: "big", maxlen: 2, fieldCount: 1)
                batch.appendArgument("v")
                batch.appendArgument(bytes: value)
            }
            // The server is frozen first (SIGSTOP), so the write certainly stalls once the socket
            // buffers fill and is in progress when the kill lands; before, a timed kill on a
            // loaded machine came after the batch had finished. The kill comes from a thread
            // of its own: a task's sleep can be woken late when the cooperative pool is busy.
            server.send(signal: SIGSTOP)
            let killed = DispatchSemaphore(value: 0)
            Thread.detachNewThread {
                usleep(200_000)
                server.stop()
                killed.signal()
            }
            await #expect { try await redis.execute(batch) } throws: { error in
                (error as? RedisClientError)?.isConnectionError == true
            }
            killed.wait()
            try server.start()
            #expect(try await redis.send("PING") == .status("PONG"))
        }
    }

    @Test func reconnectsAfterTheServerDropsAnIdleConnection() async throws {
        try await withRedisConnection(SharedRedis.configuration()) { redis async throws in
            let id = try #require(try await redis.send("CLIENT", "ID").integer)
            try await withRedisConnection(redis.configuration) { other async throws in
                try await other.send("CLIENT", "KILL", "ID", String(id))
            }
            // The idle watcher noticed the close; the next command runs on a new connection.
            #expect(try await redis.send("PING") == .status("PONG"))
            #expect(try await redis.send("CLIENT", "ID").integer != id)
        }
    }

    @Test func commandTimeoutFiresAndTheConnectionRecovers() async throws {
        try await withRedisConnection(SharedRedis.configuration(commandTimeout: .milliseconds(300))) { redis async throws in
            // Connect first, so the measured time is the command's alone.
            #expect(try await redis.send("PING") == .status("PONG"))
            let clock = ContinuousClock()
            let started = clock.now
            await #expect { try await redis.send("BLPOP", SharedRedis.uniqueKey("never"), "0") } throws: { error in
                (error as? RedisClientError)?.code == .timeout
            }
            let elapsed = started.duration(to: clock.now)
            // BLPOP 0 would block forever: finishing at all proves the timeout fired. The upper
            // bound only has to be far below "forever" on a loaded 2-core CI machine.
            #expect(elapsed >= .milliseconds(300) && elapsed < .seconds(10), "\(elapsed)")
            #expect(try await redis.send("PING") == .status("PONG"))
        }
    }

    @Test func cancellationInterruptsABlockedCommandPromptly() async throws {
        try await withRedisConnection(SharedRedis.configuration(commandTimeout: .seconds(60))) { redis async throws in
            let clock = ContinuousClock()
            let task = Task { try await redis.send("BLPOP", SharedRedis.uniqueKey("never"), "0") }
            try await Task.sleep(for: .milliseconds(200))
            let started = clock.now
            task.cancel()
            await #expect { try await task.value } throws: { error in
                (error as? RedisClientError)?.code == .cancelled
            }
            // Far below the 60 s command timeout; loose enough for a loaded 2-core machine.
            #expect(started.duration(to: clock.now) < .seconds(5))
            #expect(try await redis.send("PING") == .status("PONG"))
        }
    }

    @Test func closeFailsPendingAndLaterCommands() async throws {
        let redis = RedisConnection(configuration: try SharedRedis.configuration(commandTimeout: .seconds(60)))
        let blocked = Task { try await redis.send("BLPOP", SharedRedis.uniqueKey("never"), "0") }
        try await Task.sleep(for: .milliseconds(200))
        await redis.close()
        await #expect { try await blocked.value } throws: { ($0 as? RedisClientError)?.code == .shutdown }
        await #expect { try await redis.send("PING") } throws: { ($0 as? RedisClientError)?.code == .shutdown }
    }

    @Test func concurrentCallersKeepTheirOwnReplies() async throws {
        try await withRedisConnection(SharedRedis.configuration()) { redis async throws in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<50 {
                    group.addTask {
                        let reply = try await redis.send("ECHO", "caller-\(i)")
                        #expect(reply.string == "caller-\(i)")
                    }
                }
                try await group.waitForAll()
            }
        }
    }

    /// The name of the thread running the caller (Linux).
    static func threadName() -> String {
        ((try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "?").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A task preferring ``RedisConnection/executor`` runs on the connection's own thread,
    /// before and after awaiting its commands (no hop elsewhere), and still runs to its end
    /// once the connection is closed (then on the global executor).
    @Test func tasksPreferringTheExecutorRunOnTheConnectionThread() async throws {
        let redis = RedisConnection(configuration: try SharedRedis.configuration())
        let names = try await withTaskExecutorPreference(redis.executor) {
            var names = [Self.threadName()]
            for i in 0..<20 {
                #expect(try await redis.send("ECHO", "e\(i)").string == "e\(i)")
                names.append(Self.threadName())
            }
            try await Task.sleep(for: .milliseconds(20))
            names.append(Self.threadName())
            return names
        }
        #expect(Set(names) == ["redis-conn"], "\(names)")
        #expect(Self.threadName() != "redis-conn")
        await redis.close()
        let after = await withTaskExecutorPreference(redis.executor) {
            try? await Task.sleep(for: .milliseconds(10))
            return Self.threadName()
        }
        #expect(after != "redis-conn")
    }
}
