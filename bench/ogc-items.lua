-- wrk script of the /ogc pair of bench/run: GET <url>?limit=LIMIT&offset=…
-- on one of PAGES pages (offset = page × LIMIT) picked at random for each
-- request, as the pgbench side picks its offset (\set … random(0, PAGES - 1)).
-- The requests are formatted once per thread; a response other than 2xx
-- shows as "Non-2xx or 3xx responses" in wrk's summary.
--
--   wrk -t2 -c32 -d5s -s bench/ogc-items.lua http://HOST:PORT/ogc/collections/erp/items -- 100 10
local reqs = {}

function init(args)
	local limit = tonumber(args[1] or "100")
	local pages = tonumber(args[2] or "10")

	for page = 0, pages - 1 do
		reqs[#reqs + 1] = wrk.format(nil, wrk.path .. "?limit=" .. limit ..
		    "&offset=" .. page * limit)
	end
end

function request()
	return reqs[math.random(#reqs)]
end
