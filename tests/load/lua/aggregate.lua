-- aggregate.lua - POST .../objects/aggregate with one request body, read
-- from the file given after "--" (one of the benchmark's Q1..Q8).
package.path = os.getenv("TALLY_LOAD_LUA") .. "/?.lua;" .. package.path
local common = require("common")

local path = "/v1/buckets/" .. os.getenv("TALLY_BUCKET") ..
    "/objects/aggregate"
local req

setup = common.setup
done = common.done

function init(args)
    local f = assert(io.open(args[1], "rb"))
    local body = f:read("*a")
    f:close()
    req = wrk.format("POST", path, common.headers, body)
end

function request()
    return req
end

function response(status, headers, body)
    common.check(status, body)
end
