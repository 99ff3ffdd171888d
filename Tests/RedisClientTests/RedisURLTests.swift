import Testing
@testable import RedisClient

@Suite("RedisURL parsing")
struct RedisURLTests {
    @Test(arguments: [
        ("redis://localhost", RedisURL(address: .tcp(host: "localhost", port: 6379))),
        ("redis://127.0.0.1:6380/2", RedisURL(address: .tcp(host: "127.0.0.1", port: 6380), database: 2)),
        ("redis://127.0.0.1:6379/", RedisURL(address: .tcp(host: "127.0.0.1", port: 6379))),
        ("redis://:secret@host:1/0", RedisURL(address: .tcp(host: "host", port: 1), password: "secret")),
        ("redis://alice:p%40ss%3Aw@host/5", RedisURL(address: .tcp(host: "host", port: 6379), user: "alice", password: "p@ss:w", database: 5)),
        ("redis://[::1]:6390/3", RedisURL(address: .tcp(host: "::1", port: 6390), database: 3)),
        ("redis://[::1]", RedisURL(address: .tcp(host: "::1", port: 6379))),
        ("unix:///var/run/redis.sock", RedisURL(address: .unix(path: "/var/run/redis.sock"))),
        ("unix:///tmp/r.sock?db=4", RedisURL(address: .unix(path: "/tmp/r.sock"), database: 4)),
    ])
    func validURLs(text: String, expected: RedisURL) throws {
        #expect(try RedisURL(parsing: text) == expected)
    }

    @Test(arguments: [
        ("", "scheme"),
        ("http://localhost", "scheme"),
        ("rediss://localhost", "TLS"),
        ("redis://", "host is empty"),
        ("redis://:6379", "host is empty"),
        ("redis://host:0", "port"),
        ("redis://host:70000", "port"),
        ("redis://host:abc", "port"),
        ("redis://host:", "port"),
        ("redis://host/x", "database"),
        ("redis://host/-1", "database"),
        ("redis://user@host", "credentials"),
        ("redis://:@host", "password"),
        ("redis://:p%zz@host", "password"),
        ("redis://[::1", "IPv6"),
        ("redis://[::1]x", "IPv6"),
        ("redis://host?db=1", "query"),
        ("unix://relative.sock", "absolute"),
        ("unix:///", "empty"),
        ("unix:///tmp/r.sock?foo=1", "query item"),
        ("unix:///tmp/r.sock?db=x", "database"),
    ])
    func malformedURLs(text: String, problem: String) {
        do {
            let parsed = try RedisURL(parsing: text)
            Issue.record("\(text) parsed as \(parsed)")
        } catch {
            #expect(error.code == .invalidURL)
            #expect(error.message.contains(problem), "\(error.message)")
        }
    }

    @Test func passwordsNeverPrinted() throws {
        let url = try RedisURL(parsing: "redis://bob:hunter2@db.internal:6400/1")
        #expect(url.description == "redis://bob:***@db.internal:6400/1")
        #expect(!"\(url)".contains("hunter2"))
        do {
            _ = try RedisURL(parsing: "redis://bob:hunter2@db.internal:99999/1")
            Issue.record("bad port accepted")
        } catch {
            #expect(!error.message.contains("hunter2"), "\(error.message)")
            #expect(error.message.contains("bob:***@"))
        }
    }
}

@Suite("RESP encoding and reply decoding")
struct RESPTests {
    @Test func encodesTextBinaryAndIntegerArguments() {
        var batch = RedisCommandBatch()
        batch.append(["SET", "k", ""])
        batch.append(binary: [[0x47, 0x45, 0x54], [0x00, 0xFF, 0x0D, 0x0A]])
        batch.beginCommand(argumentCount: 4)
        batch.appendArgument("X")
        batch.appendArgument(0)
        batch.appendArgument(-42)
        batch.appendArgument(Int.min)
        let expected =
            "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n".utf8 + [UInt8]("*2\r\n$3\r\nGET\r\n$4\r\n".utf8) + [0x00, 0xFF, 0x0D, 0x0A]
            + [UInt8]("\r\n*4\r\n$1\r\nX\r\n$1\r\n0\r\n$3\r\n-42\r\n$20\r\n-9223372036854775808\r\n".utf8)
        #expect(batch.bytes == expected)
        #expect(batch.count == 3)
        batch.removeAll()
        #expect(batch.isEmpty && batch.bytes.isEmpty)
    }

    @Test func encodesXAddWithAndWithoutTrimming() {
        var batch = RedisCommandBatch()
        batch.appendXAdd(key: "s", maxlen: 100, fields: [("a", "1")])
        batch.appendXAdd(key: "s", maxlen: nil, fields: [("a", "1")])
        batch.appendXAdd(key: "s", maxlen: 5, approximate: false, id: "1-1", fields: [("a", "1")])
        let text = String(decoding: batch.bytes, as: UTF8.self)
        #expect(text == "*8\r\n$4\r\nXADD\r\n$1\r\ns\r\n$6\r\nMAXLEN\r\n$1\r\n~\r\n$3\r\n100\r\n$1\r\n*\r\n$1\r\na\r\n$1\r\n1\r\n"
            + "*5\r\n$4\r\nXADD\r\n$1\r\ns\r\n$1\r\n*\r\n$1\r\na\r\n$1\r\n1\r\n"
            + "*7\r\n$4\r\nXADD\r\n$1\r\ns\r\n$6\r\nMAXLEN\r\n$1\r\n5\r\n$3\r\n1-1\r\n$1\r\na\r\n$1\r\n1\r\n")
    }

    @Test func decodesEveryReplyType() throws {
        let resp = "+OK\r\n-WRONGTYPE Operation against a key\r\n:-42\r\n$3\r\na\u{0}b\r\n$0\r\n\r\n$-1\r\n*2\r\n$1\r\nx\r\n*1\r\n:1\r\n*-1\r\n*0\r\n"
        let replies = try RedisReply.parse(Array(resp.utf8))
        #expect(replies == [
            .status("OK"),
            .error("WRONGTYPE Operation against a key"),
            .integer(-42),
            .bulkString([0x61, 0x00, 0x62]),
            .bulkString([]),
            .null,
            .array([.bulkString([0x78]), .array([.integer(1)])]),
            .null,
            .array([]),
        ])
        let error = try #require(replies[1].serverError)
        #expect(error.isServerError && error.serverErrorCode == "WRONGTYPE")
        #expect(throws: RedisClientError.self) { try replies[1].throwingServerError() }
        #expect(replies[0].string == "OK" && replies[2].integer == -42 && replies[3].bytes == [0x61, 0, 0x62])
    }

    @Test func rejectsMalformedResp() {
        #expect(throws: RedisClientError.self) { try RedisReply.parse(Array("?what\r\n".utf8)) }
    }

    @Test func splitsServerErrorCodes() {
        #expect(RedisClientError(serverReply: "OOM command not allowed").serverErrorCode == "OOM")
        #expect(RedisClientError(serverReply: "READONLY You can't write").serverErrorCode == "READONLY")
        #expect(RedisClientError(serverReply: "something odd").serverErrorCode == nil)
        #expect(!RedisClientError(code: .io, message: "x").isServerError)
        #expect(RedisClientError(code: .timeout, message: "x").isConnectionError)
    }
}

@Suite("Reconnect policy")
struct RedisReconnectPolicyTests {
    @Test func followsTheDocumentedTable() {
        let policy = RedisReconnectPolicy()
        let table: [Duration] = [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .milliseconds(1600), .milliseconds(3200), .seconds(5), .seconds(5)]
        for (failures, expected) in table.enumerated() {
            #expect(policy.delay(afterFailures: failures, unitRandom: 0) == expected)
        }
        #expect(policy.delay(afterFailures: 1000, unitRandom: 0) == .seconds(5))
        #expect(policy.delay(afterFailures: 0, unitRandom: 0.5) == .milliseconds(150))
        for _ in 0..<100 {
            let delay = policy.delay(afterFailures: 2)
            #expect(delay >= .milliseconds(400) && delay < .milliseconds(500))
        }
    }
}
