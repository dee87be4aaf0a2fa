-- wrk script: DynamoDB wire-protocol requests (POST /, X-Amz-Target, application/x-amz-json-1.0)
-- against any DynamoDB-compatible endpoint. Unsigned: a dummy Authorization header (Dyne runs
-- --auth=dev, dynalite does not verify signatures). Keys are uniform over [0, N).
-- Environment: BENCH_OP = GetItem | PutItem, BENCH_N = key count, BENCH_SIZE = item bytes,
-- BENCH_TABLE = table name. done() prints one JSON line "BENCH {...}" for bench.py.
local op = os.getenv("BENCH_OP") or "GetItem"
local n = tonumber(os.getenv("BENCH_N") or "10000")
local size = tonumber(os.getenv("BENCH_SIZE") or "100")
local tbl = os.getenv("BENCH_TABLE") or "bench"

local headers = {
  ["Content-Type"] = "application/x-amz-json-1.0",
  ["X-Amz-Target"] = "DynamoDB_20120810." .. op,
  ["Authorization"] = "AWS4-HMAC-SHA256 Credential=dev/20240101/us-east-1/dynamodb/aws4_request, " ..
    "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0000",
  ["X-Amz-Date"] = "20240101T000000Z",
}
-- the payload attribute fills the item to about `size` bytes (key "k%08d" + names ~ 20 B)
local pad = string.rep("x", math.max(1, size - 20))

function init(args)
  math.randomseed(os.time() + math.floor(os.clock() * 1e6) + (tonumber(tostring({}):sub(8), 16) or 0))
end

function request()
  local k = string.format("k%08d", math.random(0, n - 1))
  local body
  if op == "PutItem" then
    body = '{"TableName":"' .. tbl .. '","Item":{"pk":{"S":"' .. k .. '"},"v":{"S":"' .. pad ..
      '"},"n":{"N":"' .. math.random(0, 1000000) .. '"}}}'
  else
    body = '{"TableName":"' .. tbl .. '","Key":{"pk":{"S":"' .. k .. '"}}}'
  end
  return wrk.format("POST", "/", headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"mean_us":%.1f,' ..
    '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.mean, e.connect, e.read, e.write, e.status, e.timeout))
end
