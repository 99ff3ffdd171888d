/// Where a `depth_snapshot` entry's levels come from.
public enum DepthSnapshotSource: String, Sendable {
    /// Binance's REST snapshot, after a sync or resync: the next `depth_update` that covers
    /// `last_update_id` applies on top of it.
    case rest
    /// The bridge's own book after applying the update `last_update_id` (the periodic
    /// snapshots of `books.snapshot_every_*`), for consumers that start late.
    case book
}

extension StreamEntry {
    /// A `depth_snapshot` entry (Redis contract §2): `last_update_id` and the full `bids` and
    /// `asks`, best first, as JSON arrays of `["price","qty"]` string pairs like a
    /// `depth_update`'s; prices and quantities at the instrument's precision, or with the
    /// decimals Binance wrote when the instrument is unknown. `checksum` is the book's
    /// ``BookChecksum`` (decimal text of a 64-bit unsigned integer), so a consumer can check
    /// the book it keeps.
    public static func depthSnapshot(
        stream: BinanceStreamName,
        symbol: String,
        lastUpdateId: Int64,
        bids: some Collection<BookLevel>,
        asks: some Collection<BookLevel>,
        scale: BookScale,
        written: WrittenDecimals,
        checksum: UInt64,
        source: DepthSnapshotSource,
        eventTimeMilliseconds: Int64?,
        transactionTimeMilliseconds: Int64?,
        receiveTimeMicroseconds: Int64
    ) -> StreamEntry {
        let priceDecimals = scale.isInstrumentPrecision ? scale.price : min(written.price, scale.price)
        let quantityDecimals = scale.isInstrumentPrecision ? scale.quantity : min(written.quantity, scale.quantity)
        let bidText = levelsJSON(bids, scale: scale, priceDecimals: priceDecimals, quantityDecimals: quantityDecimals)
        let askText = levelsJSON(asks, scale: scale, priceDecimals: priceDecimals, quantityDecimals: quantityDecimals)
        var entry = StreamEntry(
            stream: stream.rawValue, market: stream.market, type: .depthSnapshot, timeMicroseconds: receiveTimeMicroseconds,
            reservingCapacity: 512 + bidText.count + askText.count
        )
        entry.appendField("market", stream.market.rawValue)
        entry.appendField("symbol", symbol)
        entry.appendField("stream", stream.rawValue)
        entry.appendField("event_time_ms", eventTimeMilliseconds ?? receiveTimeMicroseconds / 1_000)
        entry.appendField("recv_time_us", receiveTimeMicroseconds)
        entry.appendField("last_update_id", lastUpdateId)
        if let transactionTimeMilliseconds { entry.appendField("transaction_time_ms", transactionTimeMilliseconds) }
        entry.appendField("source", source.rawValue)
        entry.appendField("checksum", String(checksum))
        entry.appendField("bid_levels", Int64(bids.count))
        entry.appendField("ask_levels", Int64(asks.count))
        bidText.withUnsafeBytes { entry.appendField("bids", bytes: $0) }
        askText.withUnsafeBytes { entry.appendField("asks", bytes: $0) }
        return entry
    }

    private static func levelsJSON(_ levels: some Collection<BookLevel>, scale: BookScale, priceDecimals: Int, quantityDecimals: Int) -> [UInt8] {
        var text: [UInt8] = []
        text.reserveCapacity(2 + levels.count * 28)
        text.append(UInt8(ascii: "["))
        var first = true
        for level in levels {
            if !first { text.append(UInt8(ascii: ",")) }
            first = false
            text.append(contentsOf: #"[""#.utf8)
            FixedPoint.write(level.price, scale: scale.price, decimals: priceDecimals, into: &text)
            text.append(contentsOf: #"",""#.utf8)
            FixedPoint.write(level.quantity, scale: scale.quantity, decimals: quantityDecimals, into: &text)
            text.append(contentsOf: #""]"#.utf8)
        }
        text.append(UInt8(ascii: "]"))
        return text
    }
}
