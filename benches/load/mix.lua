-- Requests for wrk. Usage: wrk ... -s mix.lua URL -- BASE_PATH TOKEN [MODE]
-- MODE "mix" (default): a provisioning mix of 40 % GET list, 30 % GET by id, 15 % POST user
-- (Entra style), 15 % PATCH (Entra style). MODE "list": only the GET of a 10-user list.
-- MODE "patch": only Entra's 6-op PATCH (issue 15's two single-request cases).
-- PAUSE_MS (environment): each connection waits that many milliseconds after an answer before
-- its next request (wrk's delay()), for latency below saturation (run.sh's paced runs).
local base, token, mode
local user = '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],'
  .. '"externalId":"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef","userName":"Test_User@contoso.com","active":"True","displayName":"Test User",'
  .. '"name":{"formatted":"Test User","familyName":"User","givenName":"Test"},'
  .. '"emails":[{"primary":true,"type":"work","value":"Test_User@Contoso.com"}],'
  .. '"phoneNumbers":[{"type":"mobile","value":"+1 555 0100"}],"title":"",'
  .. '"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Sales","employeeNumber":"123"}}'
local patch = '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":['
  .. '{"op":"Replace","path":"displayName","value":"New Name"},'
  .. '{"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department","value":"Ops"},'
  .. '{"op":"Replace","path":"active","value":"False"},'
  .. '{"op":"Replace","value":{"name.givenName":"New","title":""}}]}'
-- Entra's six-operation PATCH: "Replace"/"Add" capitalised, "False" as a string, a path-less
-- value with dotted keys, an extension path, a value-filtered path and an empty string (null).
local patch6 = '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":['
  .. '{"op":"Replace","path":"displayName","value":"New Name"},'
  .. '{"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department","value":"Ops"},'
  .. '{"op":"Replace","path":"active","value":"False"},'
  .. '{"op":"Add","path":"phoneNumbers[type eq \\"mobile\\"].value","value":"+1 555 0101"},'
  .. '{"op":"Replace","path":"title","value":""},'
  .. '{"op":"Replace","value":{"name.givenName":"New","name.familyName":"Name"}}]}'
local n = 0

function init(args)
  base = args[1] or "/v2"
  token = args[2] or ""
  mode = args[3] or "mix"
end

function request()
  n = n + 1
  local k = n % 20
  local h = { ["Authorization"] = "Bearer " .. token }
  if mode == "list" then
    return wrk.format("GET", base .. "/Users?count=10", h)
  elseif mode == "patch" then
    h["Content-Type"] = "application/scim+json"
    return wrk.format("PATCH", base .. "/Users/2819c223-7f76-453a-919d-413861904646", h, patch6)
  end
  if k < 8 then
    return wrk.format("GET", base .. "/Users?count=10", h)
  elseif k < 14 then
    return wrk.format("GET", base .. "/Users/2819c223-7f76-453a-919d-413861904646", h)
  elseif k < 17 then
    h["Content-Type"] = "application/scim+json"
    return wrk.format("POST", base .. "/Users", h, user)
  else
    h["Content-Type"] = "application/scim+json"
    return wrk.format("PATCH", base .. "/Users/2819c223-7f76-453a-919d-413861904646", h, patch)
  end
end

local pause = tonumber(os.getenv("PAUSE_MS") or "") or 0
if pause > 0 then
  -- Only defined when asked for: wrk arms a timer per request once a script has delay().
  function delay()
    return pause
  end
end
