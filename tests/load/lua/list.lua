-- list.lua - POST .../objects/list, cycling through four pages a client
-- asks for: the first page, the page after the last cursor seen, a page
-- at an offset, and a filtered page. All keep the default (insertion)
-- order, so any cursor seen is valid for the next unfiltered page.
package.path = os.getenv("TALLY_LOAD_LUA") .. "/?.lua;" .. package.path
local common = require("common")

local path = "/v1/buckets/" .. os.getenv("TALLY_BUCKET") .. "/objects/list"
local categories = {"sports", "music", "news", "gaming", "education"}
local cursor = nil
local n = 0

setup = common.setup
done = common.done

function request()
    n = n + 1
    local k = n % 4
    if k == 0 then
        return wrk.format("POST", path .. "?limit=100", common.headers, "{}")
    elseif k == 1 and cursor then
        return wrk.format("POST", path .. "?limit=100&cursor=" .. cursor,
                          common.headers, "{}")
    elseif k == 2 then
        return wrk.format("POST", path .. "?limit=50&offset=" ..
                          math.random(0, 10000), common.headers, "{}")
    end
    local body = string.format(
        '{"filters":{"metadata.category":"%s","status":"COMPLETED"}}',
        categories[math.random(#categories)])
    return wrk.format("POST", path .. "?limit=20", common.headers, body)
end

function response(status, headers, body)
    if common.check(status, body) then
        cursor = string.match(body, '"next_cursor":"([^"]+)"') or cursor
    end
end
