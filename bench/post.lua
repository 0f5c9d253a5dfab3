-- wrk script: POST varied comments to varied articles, as a site's backend would.
local bodies = {
  '{"author_id":"u%d","author_name":"Reader","body":"The council should publish the full budget before the vote next week, comment %d."}',
  '{"author_id":"u%d","author_name":"Lan","body":"Bài viết hay quá, cảm ơn tác giả đã phân tích rất kỹ (%d)."}',
  '{"author_id":"u%d","author_name":"Minh","body":"I disagree with the author: the numbers in the second chart do not add up at all, and the ministry has said so itself. Number %d."}',
}
local counter = 0

request = function()
  counter = counter + 1
  local body = string.format(bodies[(counter % #bodies) + 1], counter % 500, counter)
  local path = "/v1/articles/bench-" .. (counter % 50) .. "/comments"
  return wrk.format("POST", path, {["Content-Type"] = "application/json"}, body)
end

done = function(summary, latency, requests)
  io.write(string.format("JSON {\"requests\": %d, \"duration_us\": %d, \"errors_status\": %d, " ..
    "\"errors_connect\": %d, \"errors_timeout\": %d, \"p50_us\": %d, \"p99_us\": %d, \"max_us\": %d}\n",
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect,
    summary.errors.timeout, latency:percentile(50), latency:percentile(99), latency.max))
end
