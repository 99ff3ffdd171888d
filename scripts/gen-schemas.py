#!/usr/bin/env python3
"""Writes the machine-readable contract: JSON Schemas (draft 2020-12) under docs/schema/ for
commands, replies, events, instruments and every entry type of the data streams.

The field lists here are the contract (docs/redis-contract.md, docs/contract.md); the bridge's
EntryLayout (Sources/BridgeCore/Entries/EntryLayout.swift) implements them, and the test
suite validates real bridge output against the generated files
(Tests/BridgeTests/SchemaTests.swift). Run after changing the contract:
    python3 scripts/gen-schemas.py
"""
import json
import os

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "schema")
BASE = "https://github.com/binance-bridge/binance-bridge/docs/schema/"

INT = {"type": "string", "pattern": "^-?[0-9]+$"}
DECIMAL = {"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?$"}
TEXT = {"type": "string", "minLength": 1}
SIDE = {"enum": ["buy", "sell"]}
FLAG = {"enum": ["0", "1"]}
LEVELS = {"type": "string", "pattern": '^\\[(\\["-?[0-9]+(\\.[0-9]+)?","-?[0-9]+(\\.[0-9]+)?"\\](,\\["-?[0-9]+(\\.[0-9]+)?","-?[0-9]+(\\.[0-9]+)?"\\])*)?\\]$'}
JSONTEXT = {"type": "string", "pattern": "^[\\[{]"}
MARKET = {"enum": ["usdm", "coinm"]}

COMMON = {"type": None, "market": MARKET, "symbol": TEXT, "stream": TEXT, "event_time_ms": INT, "recv_time_us": INT}

DEPTH = {
    "first_update_id": (INT, True), "final_update_id": (INT, True), "prev_final_update_id": (INT, False),
    "transaction_time_ms": (INT, False), "bids": (LEVELS, True), "asks": (LEVELS, True), "pair": (TEXT, False),
}
KLINE = {
    "interval": (TEXT, True), "open_time_ms": (INT, True), "close_time_ms": (INT, True), "open": (DECIMAL, True),
    "high": (DECIMAL, True), "low": (DECIMAL, True), "close": (DECIMAL, True), "volume": (DECIMAL, False),
    "quote_volume": (DECIMAL, False), "trades": (INT, False), "closed": (FLAG, True), "taker_buy_volume": (DECIMAL, False),
    "taker_buy_quote_volume": (DECIMAL, False), "first_trade_id": (INT, False), "last_trade_id": (INT, False),
    "pair": (TEXT, False), "price_source": ({"enum": ["mark_price", "index_price"]}, False),
}

# type -> {field: (schema, required)}
ENTRIES = {
    "agg_trade": {
        "agg_trade_id": (INT, True), "price": (DECIMAL, True), "qty": (DECIMAL, True), "first_trade_id": (INT, False),
        "last_trade_id": (INT, False), "trade_time_ms": (INT, False), "side": (SIDE, True), "normal_qty": (DECIMAL, False),
    },
    "trade": {
        "trade_id": (INT, True), "price": (DECIMAL, True), "qty": (DECIMAL, True), "trade_time_ms": (INT, False),
        "side": (SIDE, True), "execution_type": (TEXT, False),
    },
    "book_ticker": {
        "update_id": (INT, True), "bid_price": (DECIMAL, True), "bid_qty": (DECIMAL, True), "ask_price": (DECIMAL, True),
        "ask_qty": (DECIMAL, True), "transaction_time_ms": (INT, False), "pair": (TEXT, False),
    },
    "depth_update": DEPTH,
    "depth_partial": DEPTH,
    "depth_snapshot": {
        "last_update_id": (INT, True), "transaction_time_ms": (INT, False), "source": ({"enum": ["rest", "book"]}, True),
        "checksum": ({"type": "string", "pattern": "^[0-9]+$"}, True), "bid_levels": (INT, True), "ask_levels": (INT, True),
        "bids": (LEVELS, True), "asks": (LEVELS, True),
    },
    "mark_price": {
        "mark_price": (DECIMAL, True), "index_price": (DECIMAL, False), "estimated_settle_price": (DECIMAL, False),
        "funding_rate": (DECIMAL, False), "next_funding_time_ms": (INT, False), "mark_price_moving_avg": (DECIMAL, False),
    },
    "kline": KLINE,
    "continuous_kline": dict(KLINE, contract_type=(TEXT, True)),
    "liquidation": {
        "side": (SIDE, True), "order_type": (TEXT, False), "time_in_force": (TEXT, False), "orig_qty": (DECIMAL, True),
        "price": (DECIMAL, True), "avg_price": (DECIMAL, False), "order_status": (TEXT, False), "last_filled_qty": (DECIMAL, False),
        "filled_accumulated_qty": (DECIMAL, False), "trade_time_ms": (INT, False), "pair": (TEXT, False),
    },
    "ticker": {
        "price_change": (DECIMAL, False), "price_change_percent": (DECIMAL, False), "weighted_avg_price": (DECIMAL, False),
        "last_price": (DECIMAL, True), "last_qty": (DECIMAL, False), "open": (DECIMAL, False), "high": (DECIMAL, False),
        "low": (DECIMAL, False), "volume": (DECIMAL, False), "quote_volume": (DECIMAL, False), "open_time_ms": (INT, False),
        "close_time_ms": (INT, False), "first_trade_id": (INT, False), "last_trade_id": (INT, False), "trades": (INT, False),
        "pair": (TEXT, False),
    },
    "mini_ticker": {
        "close": (DECIMAL, True), "open": (DECIMAL, False), "high": (DECIMAL, False), "low": (DECIMAL, False),
        "volume": (DECIMAL, False), "quote_volume": (DECIMAL, False), "pair": (TEXT, False),
    },
    "index_price": {"index_price": (DECIMAL, True)},
    "contract_info": {
        "pair": (TEXT, False), "contract_type": (TEXT, False), "delivery_date_ms": (INT, False), "onboard_date_ms": (INT, False),
        "contract_status": (TEXT, False), "transaction_time_ms": (INT, False), "brackets": (JSONTEXT, False),
    },
    "composite_index": {"price": (DECIMAL, True), "component_type": (TEXT, False), "components": (JSONTEXT, False)},
    "asset_index": {
        "index_price": (DECIMAL, True), "bid_buffer": (DECIMAL, False), "ask_buffer": (DECIMAL, False), "bid_rate": (DECIMAL, False),
        "ask_rate": (DECIMAL, False), "auto_exchange_bid_buffer": (DECIMAL, False), "auto_exchange_ask_buffer": (DECIMAL, False),
        "auto_exchange_bid_rate": (DECIMAL, False), "auto_exchange_ask_rate": (DECIMAL, False),
    },
    "raw": {"payload": (JSONTEXT, True)},
}

MARKER_COMMON = {"type": None, "market": MARKET, "symbol": (TEXT, False), "stream": (TEXT, True), "time_us": (INT, True)}
MARKERS = {
    "gap": {
        "reason": ({"enum": ["reconnect", "rotation", "stale", "sequence", "overflow", "restart"]}, True),
        "gap_start_us": (INT, True), "gap_end_us": (INT, True), "dropped": (INT, False),
        "expected_prev_update_id": (INT, False), "got_prev_update_id": (INT, False),
    },
    "status": {
        "status": ({"enum": ["subscribed", "unsubscribed", "stale", "resumed"]}, True), "silent_for_us": (INT, False),
    },
}

# No field is ever a placeholder (Redis contract section 2): every value is non-empty and
# never a float rendering of nothing.
NO_PLACEHOLDER = {"type": "string", "minLength": 1, "not": {"enum": ["null", "None", "nan", "NaN", "undefined"]}}


def entry_schema(name, fields, common, description):
    properties = {}
    required = []
    for key, value in common.items():
        if key == "type":
            properties["type"] = {"const": name}
            required.append("type")
            continue
        schema, needed = value if isinstance(value, tuple) else (value, True)
        properties[key] = schema
        if needed:
            required.append(key)
    if name == "raw" or name == "index_price":
        pass
    for key, (schema, needed) in fields.items():
        properties[key] = schema
        if needed:
            required.append(key)
    if name in ("raw",):
        # A raw row may lack a symbol or an event time when the payload has none.
        required = [key for key in required if key not in ("symbol", "event_time_ms")]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": BASE + "entries/" + name + ".json",
        "title": name + " entry",
        "description": description,
        "type": "object",
        "properties": properties,
        "required": required,
        # New fields may be added (the contract is extended, never broken).
        "additionalProperties": NO_PLACEHOLDER,
        "propertyNames": {"pattern": "^[a-z][a-z0-9_]*$"},
    }


ID = {"type": ["string", "integer"]}
COMMAND = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": BASE + "command.json",
    "title": "control command (PUBLISH {prefix}:control)",
    "type": "object",
    "properties": {
        "op": {"enum": ["subscribe", "unsubscribe", "list", "status", "reconcile", "instruments.reload", "instruments.sync", "ping"]},
        "id": ID,
        "reply_to": {"type": "string", "minLength": 1, "maxLength": 512},
        "market": MARKET,
        "streams": {"type": "array", "minItems": 1, "maxItems": 1000, "items": {"type": "string", "minLength": 1, "maxLength": 200}},
    },
    "required": ["op"],
    "allOf": [{"if": {"properties": {"op": {"enum": ["subscribe", "unsubscribe"]}}}, "then": {"required": ["streams"]}}],
}

ERROR_CODES = ["bad_json", "bad_request", "unknown_op", "unknown_market", "invalid_stream", "unknown_symbol", "pool_exhausted", "redis_error", "internal"]
STREAM_LIST = {"type": "array", "items": {"type": "string"}}
RESULTS = {
    "subscribe": {"type": "object", "properties": {"added": STREAM_LIST, "already": STREAM_LIST, "total": {"type": "integer", "minimum": 0}}, "required": ["added", "already", "total"]},
    "unsubscribe": {"type": "object", "properties": {"removed": STREAM_LIST, "absent": STREAM_LIST, "total": {"type": "integer", "minimum": 0}}, "required": ["removed", "absent", "total"]},
    "list": {"type": "object", "properties": {"streams": {"type": "array", "items": {
        "type": "object",
        "properties": {"stream": {"type": "string"}, "state": {"enum": ["pending", "confirmed", "failed"]}, "connection": {"type": "integer"}, "reason": {"type": "string"}},
        "required": ["stream", "state", "connection"]}}}, "required": ["streams"]},
    "status": {"type": "object", "properties": {
        "version": {"type": "string"}, "started_at_us": {"type": "integer"}, "uptime_s": {"type": "integer"},
        "connections": {"type": "array", "items": {"type": "object", "properties": {
            "market": MARKET, "id": {"type": "integer"}, "route": {"type": "string"}, "streams": {"type": "integer"},
            "state": {"enum": ["open", "connecting", "waiting", "closing"]}, "age_s": {"type": "integer"}},
            "required": ["market", "id", "route", "streams", "state", "age_s"]}},
        "books": {"type": "array", "items": {"type": "object", "properties": {
            "market": MARKET, "stream": {"type": "string"}, "synced": {"type": "boolean"}, "last_update_id": {"type": "integer"},
            "bid_levels": {"type": "integer", "minimum": 0}, "ask_levels": {"type": "integer", "minimum": 0},
            "buffered_events": {"type": "integer", "minimum": 0}, "syncs": {"type": "integer", "minimum": 0}},
            "required": ["market", "stream", "synced", "last_update_id", "bid_levels", "ask_levels", "buffered_events", "syncs"]}},
        "streams": {"type": "integer"}, "messages_in": {"type": "integer"}, "entries_out": {"type": "integer"},
        "gaps": {"type": "integer"}, "redis": {"enum": ["ok", "errors"]}, "last_error": {"type": "string"}},
        "required": ["version", "started_at_us", "uptime_s", "connections", "streams", "messages_in", "entries_out", "gaps", "redis"]},
    "reconcile": {"type": "object", "properties": {"added": STREAM_LIST, "removed": STREAM_LIST}, "required": ["added", "removed"]},
    "instruments.reload": {"type": "object", "properties": {"instruments": {"type": "integer", "minimum": 0}}, "required": ["instruments"]},
    "instruments.sync": {"type": "object", "properties": {"instruments": {"type": "integer", "minimum": 0}}, "required": ["instruments"]},
    "ping": {"type": "object", "properties": {"pong": {"const": True}, "time_us": {"type": "integer"}}, "required": ["pong", "time_us"]},
}
REPLY = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": BASE + "reply.json",
    "title": "reply (LPUSH reply_to, and the reply event)",
    "type": "object",
    "properties": {"id": {"type": ["string", "integer", "null"]}, "ok": {"type": "boolean"}, "op": {"type": ["string", "null"]}},
    "required": ["id", "ok", "op"],
    "oneOf": [
        {"properties": {"ok": {"const": True}, "result": {"type": "object"}}, "required": ["result"],
         "allOf": [{"if": {"properties": {"op": {"const": op}}}, "then": {"properties": {"result": schema}}} for op, schema in RESULTS.items()]},
        {"properties": {"ok": {"const": False}, "error": {"type": "object", "properties": {
            "code": {"enum": ERROR_CODES}, "message": {"type": "string", "minLength": 1}, "streams": STREAM_LIST},
            "required": ["code", "message"]}}, "required": ["error"]},
    ],
}
EVENT_TYPES = ["connection_opened", "connection_closed", "reconnected", "subscribed", "unsubscribed", "gap", "stale", "resumed", "rotation", "reply", "bad_command", "error", "book_synced"]
EVENT = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": BASE + "event.json",
    "title": "event (PUBLISH {prefix}:events)",
    "type": "object",
    "properties": {"type": {"enum": EVENT_TYPES}, "market": MARKET, "time_us": {"type": "integer"}},
    "required": ["type", "time_us"],
    "allOf": [
        {"if": {"properties": {"type": {"const": "reply"}}}, "then": {"required": ["reply"], "properties": {"reply": {"$ref": "reply.json"}}}},
        {"if": {"properties": {"type": {"const": "gap"}}}, "then": {"required": ["stream", "reason", "gap_start_us", "gap_end_us"]}},
        {"if": {"properties": {"type": {"enum": ["bad_command", "error"]}}}, "then": {"required": ["code", "message"]}},
        {"if": {"properties": {"type": {"enum": ["connection_opened", "connection_closed", "reconnected"]}}}, "then": {"required": ["market", "connection"]}},
        {"if": {"properties": {"type": {"enum": ["subscribed", "unsubscribed", "stale", "resumed"]}}}, "then": {"required": ["market", "stream"]}},
    ],
}
INSTRUMENT = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": BASE + "instrument.json",
    "title": "instrument (HASH {prefix}:instruments:{market}, one value)",
    "type": "object",
    "properties": {
        "symbol": TEXT, "pair": TEXT, "contract_type": {"type": "string"}, "status": {"type": "string"},
        "base_asset": {"type": "string"}, "quote_asset": {"type": "string"}, "margin_asset": {"type": "string"},
        "price_precision": {"type": "integer", "minimum": 0}, "quantity_precision": {"type": "integer", "minimum": 0},
        "tick_size": DECIMAL, "step_size": DECIMAL, "contract_size": {"type": "integer", "minimum": 1},
    },
    "required": ["symbol", "pair", "contract_type", "status", "base_asset", "quote_asset", "margin_asset", "price_precision", "quantity_precision", "tick_size", "step_size"],
}


def write(path, value):
    full = os.path.join(ROOT, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as handle:
        json.dump(value, handle, indent=2, sort_keys=False)
        handle.write("\n")


def describe(schema):
    if schema is INT:
        return "integer"
    if schema is DECIMAL:
        return "exact decimal"
    if schema is LEVELS:
        return 'JSON `[["price","qty"],…]`'
    if schema is JSONTEXT:
        return "JSON text"
    if schema is TEXT:
        return "text"
    if schema is MARKET:
        return "`usdm` / `coinm`"
    if "enum" in schema:
        return " / ".join("`" + value + "`" for value in schema["enum"])
    return "text"


def field_tables():
    lines = [
        "# Entry fields (generated by scripts/gen-schemas.py: do not edit)",
        "",
        "Every value is a string. *required* fields are always present; the others are present",
        "when Binance sends them (absent, never empty). Every data entry also has `type`, `market`,",
        "`symbol`, `stream`, `event_time_ms` and `recv_time_us`; every marker `type`, `market`,",
        "`stream`, `time_us` and `symbol` when the stream has one. JSON Schemas: `docs/schema/entries/`.",
        "",
    ]
    for name, fields in list(ENTRIES.items()) + list(MARKERS.items()):
        lines.append("## `" + name + "`")
        lines.append("")
        lines.append("| field | value | required |")
        lines.append("|---|---|---|")
        for key, (schema, needed) in fields.items():
            lines.append("| `" + key + "` | " + describe(schema) + " | " + ("yes" if needed else "") + " |")
        lines.append("")
    with open(os.path.join(ROOT, "..", "entry-fields.md"), "w") as handle:
        handle.write("\n".join(lines))


def main():
    field_tables()
    write("command.json", COMMAND)
    write("reply.json", REPLY)
    write("event.json", EVENT)
    write("instrument.json", INSTRUMENT)
    for name, fields in ENTRIES.items():
        write("entries/" + name + ".json", entry_schema(name, fields, COMMON, "A " + name + " entry of a data stream {prefix}:{market}:{stream}."))
    for name, fields in MARKERS.items():
        write("entries/" + name + ".json", entry_schema(name, fields, MARKER_COMMON, "A " + name + " marker in a data stream."))


if __name__ == "__main__":
    main()
