-- Zipf traffic for wrk: replays a pre-generated sequence of request paths (one a line, written by
-- workload.py so that every server gets the same deterministic sequence), POSTing the same V2
-- JSON body to each. Each thread starts at its own offset into the sequence.
--
--   wrk -t2 -c32 -d30s -s wrk_zipf.lua http://127.0.0.1:PORT -- PATHS_FILE BODY_FILE OFFSET [KEY]
--
-- KEY is sent with every request; a line "PATH TOKEN" sends its own key instead.
--
-- done() prints one line "WRK_JSON {...}": requests, duration, errors, latency percentiles (us),
-- and a tally of the "shoal-cache" response header (hit/miss/absent) when the server sends it.

local threads = {}

function setup(thread)
   thread:set("id", #threads)
   table.insert(threads, thread)
end

function init(args)
   -- A line is "PATH" or "PATH TOKEN": a token of its own (a tenant's API key) for that request.
   paths, keyed = {}, {}
   local by_token = {}
   local f = assert(io.open(args[1], "r"))
   for line in f:lines() do
      local path, token = line:match("^(%S+) (%S+)$")
      if path then
         local h = by_token[token]
         if not h then
            h = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token }
            by_token[token] = h
         end
         paths[#paths + 1] = path
         keyed[#paths] = h
      else
         paths[#paths + 1] = line
      end
   end
   f:close()
   local b = assert(io.open(args[2], "rb"))
   body = b:read("*a")
   b:close()
   local offset = tonumber(args[3] or "0")
   index = (offset + id * math.floor(#paths / 7)) % #paths
   headers = { ["Content-Type"] = "application/json" }
   if args[4] and args[4] ~= "" then
      headers["Authorization"] = "Bearer " .. args[4]
   end
   hits, misses, absent, non200 = 0, 0, 0, 0
end

function request()
   index = index % #paths + 1
   return wrk.format("POST", paths[index], keyed[index] or headers, body)
end

-- Tallying the cache header makes wrk parse every response in Lua, which costs the client a
-- large share of a 2-core box: only runs that need the tally (WRK_TALLY=1) define response().
if os.getenv("WRK_TALLY") == "1" then
   function response(status, hdrs, _)
      if status ~= 200 then
         non200 = non200 + 1
      end
      local cache = hdrs["shoal-cache"] or hdrs["Shoal-Cache"]
      if cache == "hit" then
         hits = hits + 1
      elseif cache == "miss" then
         misses = misses + 1
      else
         absent = absent + 1
      end
   end
end

function done(summary, latency, _)
   local h, m, a, bad = 0, 0, 0, 0
   for _, t in ipairs(threads) do
      h = h + t:get("hits")
      m = m + t:get("misses")
      a = a + t:get("absent")
      bad = bad + t:get("non200")
   end
   local e = summary.errors
   local pct = {}
   for _, p in ipairs({ 50, 90, 99, 99.9 }) do
      pct[#pct + 1] = string.format('"%s": %d', tostring(p), latency:percentile(p))
   end
   io.write(string.format(
      'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "connect_errors": %d, '
         .. '"read_errors": %d, "write_errors": %d, "status_errors": %d, "timeouts": %d, '
         .. '"non200": %d, "header_hit": %d, "header_miss": %d, "header_absent": %d, '
         .. '"latency_mean_us": %.1f, "latency_max_us": %d, "percentiles_us": {%s}}\n',
      summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
      e.timeout, bad, h, m, a, latency.mean, latency.max, table.concat(pct, ", ")))
end
