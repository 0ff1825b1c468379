-- wrk script of the submission pair (bench/api): an agent's authenticated
-- POST of a new ERP, submitted to the reviewers, at a random point of the
-- box W,S,E,N (the same box the pgbench side draws its points in), with a
-- name of its own. A look-alike nearby (a few in a hundred once the table
-- fills) is a warning the agent confirms, as confirm_warnings says, so that
-- every answer is a 201. The session is a cookie and its CSRF token, as a
-- browser tab sends them.
--
--   wrk -t2 -c64 -d5s --latency -s bench/submit.lua \
--       http://HOST:PORT/api/v1/guichets/erp/submissions -- COOKIE CSRF W,S,E,N
local threads, counter = 0, 0
local headers, box
-- tag is a global: thread:set() writes the thread's globals.

function setup(thread)
	threads = threads + 1
	thread:set("tag", threads)
end

function init(args)
	headers = {
		["Cookie"] = args[1],
		["X-CSRF-Token"] = args[2],
		["Content-Type"] = "application/json",
	}
	box = {}
	for v in string.gmatch(args[3] or "1.3,43.4,3.3,44.0", "[^,]+") do
		box[#box + 1] = tonumber(v)
	end
	math.randomseed(os.time() * 100 + tag)
end

function request()
	counter = counter + 1
	local lon = box[1] + math.random() * (box[3] - box[1])
	local lat = box[2] + math.random() * (box[4] - box[2])
	local body = string.format('{"attributes":{"libelle":"Salle bench %s-%d",' ..
	    '"categorie":"5","type_principal":"L"},"geometry":{"type":"Point",' ..
	    '"coordinates":[%.7f,%.7f]},"submit":true,"confirm_warnings":true}',
	    tostring(tag), counter,
	    lon, lat)
	return wrk.format("POST", nil, headers, body)
end
