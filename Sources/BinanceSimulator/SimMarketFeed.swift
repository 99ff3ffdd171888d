import BridgeCore

/// One market's exchange: the symbol models, and the turning of their steps into Binance
/// stream payloads on a clock the server drives.
///
/// Open-loop: the server calls ``advance(to:emit:)`` with the *scheduled* time of each tick,
/// and every event of that tick is stamped with it (`E`, `T`), so downstream latency measured
/// against event time is honest even when the simulator itself runs late.
///
/// Not thread-safe: owned by the server's event loop.
final class SimMarketFeed {
    let market: BinanceMarket
    private(set) var models: [SimSymbolModel]
    private var indexBySymbol: [String: Int] = [:]
    /// Exchange steps per second per symbol.
    let rate: Double
    /// Exchange steps taken since start, all symbols (every step is one book change or trade).
    private(set) var actionCount = 0
    private var stepCredit: [Double]
    private var depth: [DepthAggregators]
    private var lastBookTicker: [BookTickerState?]
    private var stats: [TradeStats]
    private var lastTime: Int64?
    /// Next emission time of each periodic stream family, in ms.
    private var nextDue: [Periodic: Int64] = [:]
    private let seed: UInt64
    /// Each model's index in the whole configured universe (seeds its deterministic extras).
    private var universeIndex: [Int] = []
    private var liquidations: [SimLiquidationModel]
    /// `!contractInfo` period in ms.
    let contractInfoInterval: Int64
    /// Ticker and kline push periods in ms (``SimulatorConfiguration/tickerInterval``, ``SimulatorConfiguration/klineInterval``).
    let tickerInterval: Int64
    let klineInterval: Int64
    /// Pairs (upper case) in configuration order, and the model whose fair price is each
    /// pair's index: the perpetual when there is one, else the pair's first contract.
    private var pairs: [String] = []
    private var pairIndexSource: [String: Int] = [:]
    /// The contract of each `<pair>_<contracttype>` (lower case): the first configured.
    private var continuousOwner: [String: Int] = [:]
    /// USD-M multi-assets indexes: (`BTCUSD`, the model whose fair price prices it).
    private var assetIndexes: [(symbol: String, model: Int)] = []
    /// Open mark-price klines per model, and index-price klines per pair, by interval.
    private var markKlines: [[String: TradeWindow]]
    private var indexKlines: [String: [String: TradeWindow]] = [:]

    /// Asks whether a stream has subscribers, so payloads nobody reads are never built.
    typealias Wants = (String) -> Bool
    /// Receives (stream name, JSON payload).
    typealias Emit = (String, String) -> Void

    private enum Periodic: Hashable {
        case depth(Int)
        /// Every 1 s or 3 s: mark and index prices, and (1 s) the composite and asset indexes.
        case markPrice(Int)
        /// Every ``klineInterval`` (Binance: 250 ms): trade, continuous and price klines.
        case kline
        case tickers
        /// The one-second liquidation windows.
        case liquidations
        case contractInfo
    }

    private struct BookTickerState: Equatable {
        var bid: SimOrderBook.Level
        var ask: SimOrderBook.Level
    }

    /// OHLCV and trade-id range of the trades in one window: the ticker's window (since start,
    /// the simulator's "24 h") or one kline interval.
    private struct TradeWindow {
        var start: Int64
        var open: Int64
        var high: Int64
        var low: Int64
        var close: Int64
        var lastQuantity: Int64 = 0
        var volume: Int64 = 0
        /// Σ price × quantity in units of 10^-(price decimals + quantity decimals).
        var quoteVolume: Int64 = 0
        var takerBuyVolume: Int64 = 0
        var takerBuyQuoteVolume: Int64 = 0
        var trades: Int64 = 0
        var firstTradeId: Int64 = -1
        var lastTradeId: Int64 = -1

        /// A window opening at `start` with every price at `price`.
        init(start: Int64, price: Int64) {
            self.start = start
            open = price
            high = price
            low = price
            close = price
        }

        /// This window if it still starts at `start`, else the next one, opening at the close.
        func rolled(to start: Int64) -> TradeWindow {
            self.start == start ? self : TradeWindow(start: start, price: close)
        }

        /// One observation of a price kline's price (mark or index): `n` counts them ("number
        /// of basic data") and `f`/`L` hold the first and last observation times, which is what
        /// Binance's price klines put there; volumes stay zero.
        mutating func sample(_ price: Int64, at time: Int64) {
            high = max(high, price)
            low = min(low, price)
            close = price
            trades += 1
            if firstTradeId < 0 { firstTradeId = time }
            lastTradeId = time
        }

        mutating func add(_ trade: SimSymbolModel.Trade) {
            high = max(high, trade.price)
            low = min(low, trade.price)
            close = trade.price
            lastQuantity = trade.quantity
            volume += trade.quantity
            quoteVolume += trade.price * trade.quantity
            if !trade.buyerIsMaker {
                takerBuyVolume += trade.quantity
                takerBuyQuoteVolume += trade.price * trade.quantity
            }
            trades += 1
            if firstTradeId < 0 { firstTradeId = trade.tradeId }
            lastTradeId = trade.tradeId
        }
    }

    /// The ticker window and the open klines of one symbol.
    private struct TradeStats {
        var ticker: TradeWindow
        var klines: [String: TradeWindow] = [:]
    }

    /// Changes accumulated for one diff-depth speed, flushed as one `depthUpdate`.
    private struct DepthAggregator {
        var changes: [Int64: (isBid: Bool, quantity: Int64)] = [:]  // key: price × side sign
        var firstUpdateId: Int64 = 0
        var lastUpdateId: Int64 = 0
        /// `u` of the previous event sent on this speed (`pu` of the next).
        var previousFinal: Int64

        init(start: Int64) {
            previousFinal = start
        }

        mutating func add(_ change: SimSymbolModel.LevelChange) {
            if changes.isEmpty { firstUpdateId = change.updateId }
            lastUpdateId = change.updateId
            changes[change.isBid ? change.price : -change.price] = (change.isBid, change.quantity)
        }
    }

    private struct DepthAggregators {
        var bySpeed: [Int: DepthAggregator]
    }

    static let depthSpeeds = [100, 250, 500]

    /// A feed at `rate` actions per second per symbol, of which `tradeRatio` are trades; with
    /// `liquidationsPerSecond` liquidations per symbol (0…1), a `!contractInfo` push per
    /// symbol every `contractInfoInterval`, tickers every `tickerInterval` and klines every
    /// `klineInterval`.
    init(
        market: BinanceMarket, instruments: [SimInstrument], seed: UInt64, rate: Double, tradeRatio: Double = 0.2,
        liquidationsPerSecond: Double = 0.2, contractInfoInterval: Duration = .seconds(60),
        tickerInterval: Duration = .seconds(1), klineInterval: Duration = .milliseconds(250),
        checksumHistory: Int = SimSymbolModel.defaultChecksumHistory
    ) {
        self.market = market
        self.seed = seed
        let chosen = instruments.filter { $0.market == market }
        // The index in the *whole* universe keeps each symbol's sequence independent of which
        // other symbols are configured.
        let universe = chosen.enumerated().map { index, instrument in instruments.firstIndex(of: instrument) ?? index }
        let ratio = SimRatio(tradeRatio)
        models = zip(chosen, universe).map { SimSymbolModel(instrument: $0, seed: seed, index: $1, tradeRatio: ratio, checksumHistory: max(0, checksumHistory)) }
        liquidations = zip(chosen, universe).map { SimLiquidationModel(instrument: $0, seed: seed, index: $1, perSecond: liquidationsPerSecond) }
        universeIndex = universe
        self.contractInfoInterval = Self.milliseconds(contractInfoInterval)
        self.tickerInterval = Self.milliseconds(tickerInterval)
        self.klineInterval = Self.milliseconds(klineInterval)
        markKlines = Array(repeating: [:], count: chosen.count)
        self.rate = rate
        stepCredit = Array(repeating: 0, count: models.count)
        depth = models.map { model in
            DepthAggregators(bySpeed: Dictionary(uniqueKeysWithValues: Self.depthSpeeds.map { ($0, DepthAggregator(start: model.book.lastUpdateId)) }))
        }
        lastBookTicker = Array(repeating: nil, count: models.count)
        stats = models.map { TradeStats(ticker: TradeWindow(start: 0, price: $0.instrument.startPrice)) }
        for (index, model) in models.enumerated() {
            let instrument = model.instrument
            indexBySymbol[instrument.streamSymbol] = index
            if let source = pairIndexSource[instrument.pair] {
                if instrument.contractType == "PERPETUAL", models[source].instrument.contractType != "PERPETUAL" {
                    pairIndexSource[instrument.pair] = index
                }
            } else {
                pairs.append(instrument.pair)
                pairIndexSource[instrument.pair] = index
            }
            let continuous = instrument.pair.lowercased() + "_" + instrument.contractType.lowercased()
            if continuousOwner[continuous] == nil { continuousOwner[continuous] = index }
            if market == .usdm, !assetIndexes.contains(where: { $0.symbol == instrument.baseAsset + "USD" }) {
                assetIndexes.append((instrument.baseAsset + "USD", index))
            }
        }
    }

    /// A feed as `configuration` sets it (``SimulatorConfiguration/actionsPerSymbol``).
    convenience init(market: BinanceMarket, configuration: SimulatorConfiguration) {
        let actions = configuration.actionsPerSymbol
        self.init(
            market: market, instruments: configuration.instruments, seed: configuration.seed, rate: actions.rate,
            tradeRatio: actions.tradeRatio, liquidationsPerSecond: configuration.liquidationsPerSecond,
            contractInfoInterval: configuration.contractInfoInterval, tickerInterval: configuration.tickerInterval,
            klineInterval: configuration.klineInterval, checksumHistory: configuration.bookChecksumHistory
        )
    }

    /// A period in whole milliseconds, at least 1 (the feed's clock is in ms).
    private static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return max(1, seconds * 1_000 + attoseconds / 1_000_000_000_000_000)
    }

    /// The index price of `pair` in its source contract's price units, with that contract.
    private func pairIndex(_ pair: String) -> (value: Int64, instrument: SimInstrument)? {
        pairIndexSource[pair].map { (models[$0].fair, models[$0].instrument) }
    }

    /// The model of `symbol` (upper or lower case), if this market has it.
    func model(for symbol: String) -> SimSymbolModel? {
        indexBySymbol[symbol.lowercased()].map { models[$0] }
    }

    // MARK: Clock

    /// Runs the exchange up to `now` (ms since the epoch, the tick's scheduled time).
    func advance(to now: Int64, wants: Wants, emit: Emit) {
        let elapsed = lastTime.map { max(0, now - $0) } ?? 0
        if lastTime == nil {
            for speed in Self.depthSpeeds { nextDue[.depth(speed)] = now + Int64(speed) }
            nextDue[.markPrice(1)] = now + 1_000
            nextDue[.markPrice(3)] = now + 3_000
            nextDue[.kline] = now + klineInterval
            nextDue[.tickers] = now + tickerInterval
            nextDue[.liquidations] = now + 1_000
            nextDue[.contractInfo] = now + contractInfoInterval
            for index in stats.indices { stats[index].ticker.start = now }
            for index in liquidations.indices { liquidations[index].openWindow(at: now) }
        }
        lastTime = now
        for index in models.indices {
            stepCredit[index] += rate * Double(elapsed) / 1_000
            while stepCredit[index] >= 1 {
                stepCredit[index] -= 1
                step(index, now: now, wants: wants, emit: emit)
            }
            liquidations[index].occur(now: now, book: models[index].book, fallback: models[index].fair)
        }
        for speed in Self.depthSpeeds where isDue(.depth(speed), every: Int64(speed), at: now) {
            for index in models.indices { flushDepth(index, speed: speed, now: now, wants: wants, emit: emit) }
        }
        for seconds in [1, 3] where now >= nextDue[.markPrice(seconds)]! {
            nextDue[.markPrice(seconds)] = now + Int64(seconds) * 1_000
            emitMarkPrices(seconds: seconds, now: now, wants: wants, emit: emit)
            if market == .coinm { emitIndexPrices(seconds: seconds, now: now, wants: wants, emit: emit) }
            if seconds == 1, market == .usdm { emitIndexes(now: now, wants: wants, emit: emit) }
        }
        if isDue(.kline, every: klineInterval, at: now) {
            emitKlines(now: now, wants: wants, emit: emit)
        }
        if isDue(.tickers, every: tickerInterval, at: now) {
            emitTickers(now: now, wants: wants, emit: emit)
        }
        if now >= nextDue[.liquidations]! {
            nextDue[.liquidations] = now + 1_000
            for index in liquidations.indices {
                if let liquidation = liquidations[index].closeWindow() { emitForceOrder(liquidation, index, now: now, wants: wants, emit: emit) }
                liquidations[index].openWindow(at: now)
            }
        }
        if isDue(.contractInfo, every: contractInfoInterval, at: now) {
            if wants("!contractInfo") {
                for model in models { emit("!contractInfo", SimIndexPayloads.contractInfo(model.instrument, now: now)) }
            }
        }
    }

    /// Whether `key` falls due at `now`; if so its next time is advanced from the due time
    /// (not from `now`), so a period that is not a multiple of the tick keeps its average
    /// rate, and a late loop skips what it missed instead of bunching.
    private func isDue(_ key: Periodic, every interval: Int64, at now: Int64) -> Bool {
        guard let due = nextDue[key], now >= due else { return false }
        nextDue[key] = due + interval * max(1, (now - due) / interval + 1)
        return true
    }

    // MARK: Steps

    private func step(_ index: Int, now: Int64, wants: Wants, emit: Emit) {
        let result = models[index].step()
        actionCount += 1
        let model = models[index]
        let instrument = model.instrument
        let symbol = instrument.streamSymbol
        for change in result.changes {
            for speed in Self.depthSpeeds {
                // Mutated in place: a copy out and back would copy the changes dictionary on
                // every book change (it was 5 % of the simulator's CPU).
                depth[index].bySpeed[speed]!.add(change)
            }
        }
        if let trade = result.trade {
            record(trade, index: index, now: now)
            if wants(symbol + "@aggTrade") { emit(symbol + "@aggTrade", aggTradePayload(trade, instrument, now)) }
            if wants(symbol + "@trade") { emit(symbol + "@trade", tradePayload(trade, instrument, now)) }
        }
        if let bid = model.book.bestBid, let ask = model.book.bestAsk {
            let state = BookTickerState(bid: bid, ask: ask)
            if state != lastBookTicker[index] {
                lastBookTicker[index] = state
                let own = wants(symbol + "@bookTicker")
                let all = wants("!bookTicker")
                if own || all {
                    let payload = bookTickerPayload(state, model, now, allMarket: all && !own)
                    if own { emit(symbol + "@bookTicker", payload) }
                    if all { emit("!bookTicker", own ? bookTickerPayload(state, model, now, allMarket: true) : payload) }
                }
            }
        }
    }

    private func record(_ trade: SimSymbolModel.Trade, index: Int, now: Int64) {
        stats[index].ticker.add(trade)
        for interval in stats[index].klines.keys { stats[index].klines[interval]!.add(trade) }
    }

    // MARK: Depth

    private func flushDepth(_ index: Int, speed: Int, now: Int64, wants: Wants, emit: Emit) {
        let model = models[index]
        let symbol = model.instrument.streamSymbol
        let suffix = speed == 250 ? "" : "@\(speed)ms"
        if !depth[index].bySpeed[speed]!.changes.isEmpty {
            let name = symbol + "@depth" + suffix
            if wants(name) {
                emit(name, depthPayload(depth[index].bySpeed[speed]!, model, now))
            }
            // In place, keeping the dictionary's storage (no copy-on-write copy).
            depth[index].bySpeed[speed]!.previousFinal = depth[index].bySpeed[speed]!.lastUpdateId
            depth[index].bySpeed[speed]!.changes.removeAll(keepingCapacity: true)
        }
        let aggregator = depth[index].bySpeed[speed]!
        for levels in [5, 10, 20] {
            let name = symbol + "@depth\(levels)" + suffix
            if wants(name) { emit(name, partialDepthPayload(levels: levels, aggregator, model, now)) }
        }
    }

    private func depthPayload(_ aggregator: DepthAggregator, _ model: SimSymbolModel, _ now: Int64) -> String {
        let instrument = model.instrument
        var json = JSONWriter(capacity: 128 + aggregator.changes.count * 24)
        json.beginObject()
        json.string("e", "depthUpdate")
        json.int("E", now)
        json.int("T", now)
        json.string("s", instrument.symbol)
        if instrument.market == .coinm { json.string("ps", instrument.pair) }
        json.int("U", aggregator.firstUpdateId)
        json.int("u", aggregator.lastUpdateId)
        json.int("pu", aggregator.previousFinal)
        // Keys are +price for bids and −price for asks: descending keys list bids best-first
        // and asks best-first (ascending prices).
        let sorted = aggregator.changes.sorted { $0.key > $1.key }
        json.beginArray("b")
        for (key, change) in sorted where change.isBid {
            json.level(key, change.quantity, price: instrument.price, quantity: instrument.quantity)
        }
        json.endArray()
        json.beginArray("a")
        for (key, change) in sorted where !change.isBid {
            json.level(-key, change.quantity, price: instrument.price, quantity: instrument.quantity)
        }
        json.endArray()
        json.endObject()
        return json.text
    }

    private func partialDepthPayload(levels: Int, _ aggregator: DepthAggregator, _ model: SimSymbolModel, _ now: Int64) -> String {
        let instrument = model.instrument
        var json = JSONWriter(capacity: 128 + levels * 48)
        json.beginObject()
        json.string("e", "depthUpdate")
        json.int("E", now)
        json.int("T", now)
        json.string("s", instrument.symbol)
        if instrument.market == .coinm { json.string("ps", instrument.pair) }
        json.int("U", aggregator.firstUpdateId)
        json.int("u", model.book.lastUpdateId)
        json.int("pu", aggregator.previousFinal)
        json.levels("b", model.book.bids.prefix(levels), instrument)
        json.levels("a", model.book.asks.prefix(levels), instrument)
        json.endObject()
        return json.text
    }

    // MARK: Trades and tickers

    private func aggTradePayload(_ trade: SimSymbolModel.Trade, _ instrument: SimInstrument, _ now: Int64) -> String {
        var json = JSONWriter(capacity: 200)
        json.beginObject()
        json.string("e", "aggTrade")
        json.int("E", now)
        json.string("s", instrument.symbol)
        json.int("a", trade.aggTradeId)
        json.decimal("p", trade.price, instrument.price)
        json.decimal("q", trade.quantity, instrument.quantity)
        json.int("f", trade.tradeId)
        json.int("l", trade.tradeId)
        json.int("T", now)
        json.bool("m", trade.buyerIsMaker)
        json.endObject()
        return json.text
    }

    private func tradePayload(_ trade: SimSymbolModel.Trade, _ instrument: SimInstrument, _ now: Int64) -> String {
        var json = JSONWriter(capacity: 200)
        json.beginObject()
        json.string("e", "trade")
        json.int("E", now)
        json.int("T", now)
        json.string("s", instrument.symbol)
        json.int("t", trade.tradeId)
        json.decimal("p", trade.price, instrument.price)
        json.decimal("q", trade.quantity, instrument.quantity)
        json.string("X", "MARKET")
        json.bool("m", trade.buyerIsMaker)
        json.endObject()
        return json.text
    }

    private func bookTickerPayload(_ state: BookTickerState, _ model: SimSymbolModel, _ now: Int64, allMarket: Bool) -> String {
        let instrument = model.instrument
        var json = JSONWriter(capacity: 200)
        json.beginObject()
        json.string("e", "bookTicker")
        json.int("u", model.book.lastUpdateId)
        json.int("E", now)
        json.int("T", now)
        json.string("s", instrument.symbol)
        if instrument.market == .coinm { json.string("ps", instrument.pair) }
        json.decimal("b", state.bid.price, instrument.price)
        json.decimal("B", state.bid.quantity, instrument.quantity)
        json.decimal("a", state.ask.price, instrument.price)
        json.decimal("A", state.ask.quantity, instrument.quantity)
        // All-market rows carry the universe marker since the 2026-06-30 merge (protocol §1).
        if allMarket { json.int("st", instrument.market == .usdm ? 1 : 2) }
        json.endObject()
        return json.text
    }

    /// Mark prices are printed with 8 decimals, as Binance does (`"11794.15000000"`).
    private static let markFormat = DecimalFormat(decimals: 8)

    private func scaledTo8(_ value: Int64, _ instrument: SimInstrument) -> Int64 {
        SimIndexPayloads.scaledTo8(value, instrument)
    }

    /// The index price of `instrument`'s pair at 8 decimals (its own fair price if the pair has
    /// no source, which cannot happen for a configured instrument).
    private func indexPrice8(of instrument: SimInstrument, fallback: Int64) -> Int64 {
        guard let index = pairIndex(instrument.pair) else { return scaledTo8(fallback, instrument) }
        return scaledTo8(index.value, index.instrument)
    }

    private func markPriceObject(_ model: SimSymbolModel, _ now: Int64, into json: inout JSONWriter) {
        let instrument = model.instrument
        json.beginObject()
        json.string("e", "markPriceUpdate")
        json.int("E", now)
        json.string("s", instrument.symbol)
        json.decimal("p", scaledTo8(model.fair, instrument), Self.markFormat)
        // Index prices are per pair (every contract of a pair shows the same `i`, as on
        // Binance): the fair price of the pair's perpetual, or of its first contract.
        json.decimal("i", indexPrice8(of: instrument, fallback: model.fair), Self.markFormat)
        json.decimal("P", scaledTo8(model.fair, instrument), Self.markFormat)
        if instrument.contractType == "PERPETUAL" {
            json.string("r", "0.00010000")
            let period: Int64 = 8 * 3_600_000
            json.int("T", (now / period + 1) * period)
        } else {
            // Delivery contracts have no funding: Binance sends "" and 0.
            json.string("r", "")
            json.int("T", 0)
        }
        json.endObject()
    }

    private func emitMarkPrices(seconds: Int, now: Int64, wants: Wants, emit: Emit) {
        let suffix = seconds == 1 ? "@1s" : ""
        for model in models {
            let name = model.instrument.streamSymbol + "@markPrice" + suffix
            if wants(name) {
                var json = JSONWriter(capacity: 256)
                markPriceObject(model, now, into: &json)
                emit(name, json.text)
            }
        }
        // COIN-M `<pair>@markPrice[@1s]`: every contract of the pair, as one array. (On USD-M a
        // pair name is its perpetual's symbol, which the loop above serves.)
        if market == .coinm {
            for pair in pairs {
                let name = pair.lowercased() + "@markPrice" + suffix
                guard wants(name) else { continue }
                var json = JSONWriter(capacity: 512)
                json.beginArray()
                for model in models where model.instrument.pair == pair { markPriceObject(model, now, into: &json) }
                json.endArray()
                emit(name, json.text)
            }
        }
        let all = "!markPrice@arr" + suffix
        if wants(all) {
            var json = JSONWriter(capacity: 256 * models.count)
            json.beginArray()
            for model in models { markPriceObject(model, now, into: &json) }
            json.endArray()
            emit(all, json.text)
        }
    }

    /// COIN-M `<pair>@indexPrice[@1s]`: `{"e":"indexPriceUpdate","E","i":pair,"p"}`.
    private func emitIndexPrices(seconds: Int, now: Int64, wants: Wants, emit: Emit) {
        let suffix = seconds == 1 ? "@1s" : ""
        for pair in pairs {
            let name = pair.lowercased() + "@indexPrice" + suffix
            guard wants(name), let index = pairIndex(pair) else { continue }
            var json = JSONWriter(capacity: 120)
            json.beginObject()
            json.string("e", "indexPriceUpdate")
            json.int("E", now)
            json.string("i", pair)
            json.decimal("p", scaledTo8(index.value, index.instrument), Self.markFormat)
            json.endObject()
            emit(name, json.text)
        }
    }

    /// USD-M, every second: `<s>@compositeIndex` per symbol, and the multi-assets
    /// `<asset>@assetIndex` / `!assetIndex@arr` (the array holds every asset index).
    private func emitIndexes(now: Int64, wants: Wants, emit: Emit) {
        for index in models.indices {
            let name = models[index].instrument.streamSymbol + "@compositeIndex"
            if wants(name) {
                emit(name, SimIndexPayloads.compositeIndex(models[index].instrument, fair: models[index].fair, seed: seed, universeIndex: universeIndex[index], now: now))
            }
        }
        for asset in assetIndexes {
            let name = asset.symbol.lowercased() + "@assetIndex"
            guard wants(name) else { continue }
            var json = JSONWriter(capacity: 360)
            SimIndexPayloads.assetIndex(symbol: asset.symbol, index: scaledTo8(models[asset.model].fair, models[asset.model].instrument), now: now, into: &json)
            emit(name, json.text)
        }
        if wants("!assetIndex@arr") {
            var json = JSONWriter(capacity: 360 * assetIndexes.count)
            json.beginArray()
            for asset in assetIndexes {
                SimIndexPayloads.assetIndex(symbol: asset.symbol, index: scaledTo8(models[asset.model].fair, models[asset.model].instrument), now: now, into: &json)
            }
            json.endArray()
            emit("!assetIndex@arr", json.text)
        }
    }

    /// `<s>@forceOrder` and `!forceOrder@arr` (one message per liquidation on the all-market
    /// stream too — Binance does not batch them — carrying `st`).
    private func emitForceOrder(_ liquidation: SimLiquidationModel.Liquidation, _ index: Int, now: Int64, wants: Wants, emit: Emit) {
        let instrument = models[index].instrument
        let own = instrument.streamSymbol + "@forceOrder"
        if wants(own) { emit(own, SimLiquidationModel.payload(liquidation, instrument, now, allMarket: false)) }
        if wants("!forceOrder@arr") { emit("!forceOrder@arr", SimLiquidationModel.payload(liquidation, instrument, now, allMarket: true)) }
    }

    /// Every ``klineInterval``: `<s>@kline_<i>` and `<pair>_<ct>@continuousKline_<i>` — one window per
    /// symbol and interval feeds both, so a continuous kline is exactly its contract's kline —
    /// and on COIN-M the mark and index price klines.
    private func emitKlines(now: Int64, wants: Wants, emit: Emit) {
        for index in models.indices {
            let instrument = models[index].instrument
            let pairAndType = instrument.pair.lowercased() + "_" + instrument.contractType.lowercased()
            let ownsContinuous = continuousOwner[pairAndType] == index
            for interval in SimStream.klineIntervalOrder {
                let name = instrument.streamSymbol + "@kline_" + interval
                let continuous = pairAndType + "@continuousKline_" + interval
                let plain = wants(name)
                let alsoContinuous = ownsContinuous && wants(continuous)
                guard plain || alsoContinuous else { continue }
                let length = SimStream.intervalMilliseconds(interval)
                let kline = (stats[index].klines[interval] ?? TradeWindow(start: now / length * length, price: stats[index].ticker.close)).rolled(to: now / length * length)
                stats[index].klines[interval] = kline
                let quote = DecimalFormat(decimals: instrument.price.decimals + instrument.quantity.decimals)
                if plain {
                    var json = JSONWriter(capacity: 400)
                    json.beginObject()
                    json.string("e", "kline")
                    json.int("E", now)
                    json.string("s", instrument.symbol)
                    writeKline(kline, interval: interval, symbol: instrument.symbol, now: now, price: instrument.price, quantity: instrument.quantity, quote: quote, into: &json)
                    json.endObject()
                    emit(name, json.text)
                }
                if alsoContinuous {
                    var json = JSONWriter(capacity: 400)
                    json.beginObject()
                    json.string("e", "continuous_kline")
                    json.int("E", now)
                    json.string("ps", instrument.pair)
                    json.string("ct", instrument.contractType)
                    writeKline(kline, interval: interval, symbol: nil, now: now, price: instrument.price, quantity: instrument.quantity, quote: quote, into: &json)
                    json.endObject()
                    emit(continuous, json.text)
                }
            }
        }
        if market == .coinm { emitPriceKlines(now: now, wants: wants, emit: emit) }
    }

    /// Price klines have no volume: Binance prints `"0"`.
    private static let zeroVolume = DecimalFormat(decimals: 0)

    /// COIN-M `<s>@markPriceKline_<i>` (`k.s` the symbol) and `<pair>@indexPriceKline_<i>`
    /// (`k.s` `"0"`, as Binance sends), both with `ps`. Each emission samples the current
    /// mark / index price, so `c` is the price `markPrice` shows at the same tick. The index
    /// kline is also served as `<pair>_<ct>@indexPriceKline_<i>` for the pair's configured
    /// contract types: the protocol file spells it so, Binance's documentation without `_<ct>`.
    private func emitPriceKlines(now: Int64, wants: Wants, emit: Emit) {
        for index in models.indices {
            let instrument = models[index].instrument
            for interval in SimStream.klineIntervalOrder {
                let name = instrument.streamSymbol + "@markPriceKline_" + interval
                guard wants(name) else { continue }
                let mark = scaledTo8(models[index].fair, instrument)
                let length = SimStream.intervalMilliseconds(interval)
                var window = (markKlines[index][interval] ?? TradeWindow(start: now / length * length, price: mark)).rolled(to: now / length * length)
                window.sample(mark, at: now)
                markKlines[index][interval] = window
                emit(name, priceKlinePayload("markPrice_kline", pair: instrument.pair, symbol: instrument.symbol, window, interval: interval, now: now))
            }
        }
        for pair in pairs {
            guard let source = pairIndex(pair) else { continue }
            let lower = pair.lowercased()
            let spellings = [lower] + models.filter { $0.instrument.pair == pair }.map { lower + "_" + $0.instrument.contractType.lowercased() }
            for interval in SimStream.klineIntervalOrder {
                let names = spellings.map { $0 + "@indexPriceKline_" + interval }.filter(wants)
                guard !names.isEmpty else { continue }
                let price = scaledTo8(source.value, source.instrument)
                let length = SimStream.intervalMilliseconds(interval)
                var window = (indexKlines[pair]?[interval] ?? TradeWindow(start: now / length * length, price: price)).rolled(to: now / length * length)
                window.sample(price, at: now)
                indexKlines[pair, default: [:]][interval] = window
                let payload = priceKlinePayload("indexPrice_kline", pair: pair, symbol: "0", window, interval: interval, now: now)
                for name in names { emit(name, payload) }
            }
        }
    }

    private func priceKlinePayload(_ event: String, pair: String, symbol: String, _ window: TradeWindow, interval: String, now: Int64) -> String {
        var json = JSONWriter(capacity: 400)
        json.beginObject()
        json.string("e", event)
        json.int("E", now)
        json.string("ps", pair)
        writeKline(window, interval: interval, symbol: symbol, now: now, price: Self.markFormat, quantity: Self.zeroVolume, quote: Self.zeroVolume, into: &json)
        json.endObject()
        return json.text
    }

    /// `"k":{…}` of every kline-shaped payload; `symbol` is `k.s` (nil: none, as in
    /// `continuous_kline`).
    private func writeKline(
        _ kline: TradeWindow, interval: String, symbol: String?, now: Int64, price: DecimalFormat, quantity: DecimalFormat, quote: DecimalFormat,
        into json: inout JSONWriter
    ) {
        let length = SimStream.intervalMilliseconds(interval)
        json.beginObject("k")
        json.int("t", kline.start)
        json.int("T", kline.start + length - 1)
        if let symbol { json.string("s", symbol) }
        json.string("i", interval)
        json.int("f", kline.firstTradeId)
        json.int("L", kline.lastTradeId)
        json.decimal("o", kline.open, price)
        json.decimal("c", kline.close, price)
        json.decimal("h", kline.high, price)
        json.decimal("l", kline.low, price)
        json.decimal("v", kline.volume, quantity)
        json.int("n", kline.trades)
        json.bool("x", now >= kline.start + length - 1)
        json.decimal("q", kline.quoteVolume, quote)
        json.decimal("V", kline.takerBuyVolume, quantity)
        json.decimal("Q", kline.takerBuyQuoteVolume, quote)
        json.string("B", "0")
        json.endObject()
    }

    private func tickerObject(_ index: Int, mini: Bool, now: Int64, allMarket: Bool = false, into json: inout JSONWriter) {
        let instrument = models[index].instrument
        let s = stats[index].ticker
        let quoteFormat = DecimalFormat(decimals: instrument.price.decimals + instrument.quantity.decimals)
        json.beginObject()
        json.string("e", mini ? "24hrMiniTicker" : "24hrTicker")
        json.int("E", now)
        json.string("s", instrument.symbol)
        if !mini {
            json.decimal("p", s.close - s.open, instrument.price)
            // Percent change with 3 decimals: (last − open) / open × 100.
            json.decimal("P", s.open == 0 ? 0 : (s.close - s.open) * 100_000 / s.open, DecimalFormat(decimals: 3))
            json.decimal("w", s.volume == 0 ? s.close : s.quoteVolume / s.volume, instrument.price)
        }
        json.decimal("c", s.close, instrument.price)
        if !mini { json.decimal("Q", s.lastQuantity, instrument.quantity) }
        json.decimal("o", s.open, instrument.price)
        json.decimal("h", s.high, instrument.price)
        json.decimal("l", s.low, instrument.price)
        json.decimal("v", s.volume, instrument.quantity)
        json.decimal("q", s.quoteVolume, quoteFormat)
        if !mini {
            json.int("O", s.start)
            json.int("C", now)
            json.int("F", s.firstTradeId)
            json.int("L", s.lastTradeId)
            json.int("n", s.trades)
        }
        // All-market rows carry the universe marker since the 2026-06-30 merge (protocol §1).
        if allMarket { json.int("st", instrument.market == .usdm ? 1 : 2) }
        json.endObject()
    }

    private func emitTickers(now: Int64, wants: Wants, emit: Emit) {
        for (type, mini) in [("ticker", false), ("miniTicker", true)] {
            for index in models.indices {
                let name = models[index].instrument.streamSymbol + "@" + type
                if wants(name) {
                    var json = JSONWriter(capacity: 400)
                    tickerObject(index, mini: mini, now: now, into: &json)
                    emit(name, json.text)
                }
            }
            let all = "!" + type + "@arr"
            if wants(all) {
                var json = JSONWriter(capacity: 400 * models.count)
                json.beginArray()
                for index in models.indices { tickerObject(index, mini: mini, now: now, allMarket: true, into: &json) }
                json.endArray()
                emit(all, json.text)
            }
        }
    }

    // MARK: REST views

    /// The REST depth snapshot of `symbol`: (lastUpdateId, bids, asks) limited to `limit` levels.
    func snapshot(symbol: String, limit: Int) -> (lastUpdateId: Int64, bids: [SimOrderBook.Level], asks: [SimOrderBook.Level], instrument: SimInstrument)? {
        guard let model = model(for: symbol) else { return nil }
        return (model.book.lastUpdateId, Array(model.book.bids.prefix(limit)), Array(model.book.asks.prefix(limit)), model.instrument)
    }
}
