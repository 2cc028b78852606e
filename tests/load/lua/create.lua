-- create.lua - POST .../objects: one new object per request, shaped like
-- the benchmark's generated objects, with varied values.
package.path = os.getenv("TALLY_LOAD_LUA") .. "/?.lua;" .. package.path
local common = require("common")

local path = "/v1/buckets/" .. os.getenv("TALLY_BUCKET") .. "/objects"
local categories = {"sports", "music", "news", "gaming", "education",
                    "travel", "food", "tech"}
local types = {"video", "image", "audio", "document", "text"}
local tags = {"hd", "live", "short", "archive", "featured"}
local n = 0

setup = common.setup
done = common.done

function init(args)
    math.randomseed(os.time() + (id or 0) * 7919)
end

local function pick(list)
    return list[math.random(#list)]
end

function request()
    n = n + 1
    local body = string.format(
        '{"key_prefix":"/load/%d","status":"COMPLETED","metadata":' ..
        '{"category":"%s","type":"%s","user_id":"u_%d","duration":%.1f,' ..
        '"views":%d,"size":%d,"tags":["%s","%s"],"status":"active"},' ..
        '"blobs":[{"property":"thumbnail","type":"image","details":' ..
        '{"size_bytes":%d,"mime_type":"image/jpeg"}}]}',
        n, pick(categories), pick(types), math.random(50000),
        math.random() * 900, math.random(0, 1000000), math.random(1, 1e8),
        pick(tags), pick(tags), math.random(1000, 100000))
    return wrk.format("POST", path, common.headers, body)
end

function response(status, headers, body)
    common.check(status, body)
end
