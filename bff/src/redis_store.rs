//! The token table's operations on Redis, for several instances sharing one
//! Redis (sessions themselves go to `tower-sessions-redis-store` on the same
//! connection pool). Every multi-key change is one Lua script, so it is atomic.
//!
//! Keys (prefix `gatehouse:`): `tok:<id>` hash (sub, sid, sealed, public_id,
//! user_agent, created_at, last_seen, confirmed_at, standing), expiring a day
//! after the sign-in's absolute end; `lock:<id>` the refresh lease;
//! `sub:<sub>` and `sid:<sid>` sets of ids; `pub:<public_id>` → id;
//! `jti:<jti>` remembered logout-token ids; the sorted sets `ends` (id by
//! absolute end) and `seen` (id by last request), from which the cleanup
//! finds the sign-ins to end — revoking their refresh tokens — before Redis
//! would drop them on its own.

use fred::prelude::*;

pub(crate) type Pool = fred::clients::Pool;

const P: &str = "gatehouse:";
/// How long a row outlives its absolute end in Redis, so that the cleanup
/// (every ten minutes, on any instance) ends it — revoking its refresh token —
/// before Redis drops it. Reads treat it as over from its absolute end.
const GRACE_SECS: i64 = 24 * 3600;

fn k(kind: &str, id: &str) -> String {
    format!("{P}{kind}:{id}")
}

/// Deletes row `tok:<id>` and its index entries. KEYS[1] = tok key; ARGV[1] = id, ARGV[2] = prefix.
const DELETE: &str = r#"
redis.call('ZREM', ARGV[2] .. 'ends', ARGV[1])
redis.call('ZREM', ARGV[2] .. 'seen', ARGV[1])
local f = redis.call('HMGET', KEYS[1], 'sub', 'sid', 'public_id')
if not f[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SREM', ARGV[2] .. 'sub:' .. f[1], ARGV[1])
if f[2] then redis.call('SREM', ARGV[2] .. 'sid:' .. f[2], ARGV[1]) end
if f[3] then redis.call('DEL', ARGV[2] .. 'pub:' .. f[3]) end
return 1
"#;

pub(crate) struct Row {
    pub sub: String,
    pub sealed: String,
}

pub(crate) use crate::token_rows::NewRow;

pub(crate) async fn insert(pool: &Pool, row: NewRow<'_>) -> Result<(), Error> {
    let NewRow { id, sub, sid, sealed, expires_at, public_id, user_agent, now } = row;
    let script = r#"
redis.call('HSET', KEYS[1], 'sub', ARGV[1], 'sealed', ARGV[3], 'public_id', ARGV[5],
  'user_agent', ARGV[6], 'created_at', ARGV[7], 'last_seen', ARGV[7], 'expires_at', ARGV[4])
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'sid', ARGV[2]) end
redis.call('EXPIREAT', KEYS[1], ARGV[9])
redis.call('SADD', KEYS[2], ARGV[8])
redis.call('EXPIREAT', KEYS[2], ARGV[9], 'GT')
redis.call('EXPIREAT', KEYS[2], ARGV[9], 'NX')
if ARGV[2] ~= '' then
  redis.call('SADD', KEYS[3], ARGV[8])
  redis.call('EXPIREAT', KEYS[3], ARGV[9], 'GT')
  redis.call('EXPIREAT', KEYS[3], ARGV[9], 'NX')
end
redis.call('SET', KEYS[4], ARGV[8], 'EXAT', ARGV[9])
for i = 5, 6 do
  if i == 5 then redis.call('ZADD', KEYS[i], ARGV[4], ARGV[8]) else redis.call('ZADD', KEYS[i], ARGV[7], ARGV[8]) end
  redis.call('EXPIREAT', KEYS[i], ARGV[9], 'GT')
  redis.call('EXPIREAT', KEYS[i], ARGV[9], 'NX')
end
return 1
"#;
    let keys = vec![
        k("tok", id),
        k("sub", sub),
        k("sid", sid.unwrap_or("-")),
        k("pub", public_id),
        format!("{P}ends"),
        format!("{P}seen"),
    ];
    let args: Vec<String> = vec![
        sub.into(),
        sid.unwrap_or_default().into(),
        sealed.into(),
        expires_at.to_string(),
        public_id.into(),
        user_agent.unwrap_or_default().into(),
        now.to_string(),
        id.into(),
        expires_at.saturating_add(GRACE_SECS).to_string(),
    ];
    let _: i64 = pool.eval(script, keys, args).await?;
    Ok(())
}

pub(crate) async fn read(pool: &Pool, id: &str) -> Result<Option<Row>, Error> {
    let f: Vec<Option<String>> = pool.hmget(k("tok", id), vec!["sub", "sealed"]).await?;
    Ok(match (f.first().cloned().flatten(), f.get(1).cloned().flatten()) {
        (Some(sub), Some(sealed)) => Some(Row { sub, sealed }),
        _ => None,
    })
}

pub(crate) async fn delete(pool: &Pool, id: &str) -> Result<bool, Error> {
    let n: i64 = pool.eval(DELETE, vec![k("tok", id)], vec![id.to_string(), P.to_string()]).await?;
    Ok(n == 1)
}

/// `<confirmed_at>|<standing>` (or `''`) read back as a standing row.
fn standing_of(reply: &str) -> Option<crate::tokens::StandingRow> {
    let (at, json) = reply.split_once('|')?;
    Some(crate::tokens::StandingRow { at_ms: at.parse().ok()?, json: json.to_string() })
}

/// Whether row `id` still exists; notes the activity at most once a minute.
/// `None`: the row is gone (or past its absolute end); `Some((touched,
/// last_seen, standing))`: whether `last_seen` was older than `touch_every`
/// seconds and set to `now`, its value after that, and the latest standing
/// check recorded.
pub(crate) async fn check_in(
    pool: &Pool,
    id: &str,
    now: i64,
    touch_every: i64,
) -> Result<Option<(bool, i64, Option<crate::tokens::StandingRow>)>, Error> {
    let script = r#"
local f = redis.call('HMGET', KEYS[1], 'last_seen', 'confirmed_at', 'standing', 'expires_at')
if not f[1] then return '0' end
if f[4] and tonumber(f[4]) <= tonumber(ARGV[1]) then return '0' end
local standing = ''
if f[3] then standing = (f[2] or '0') .. '|' .. f[3] end
if tonumber(f[1]) < tonumber(ARGV[1]) - tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], 'last_seen', ARGV[1])
  redis.call('ZADD', KEYS[2], ARGV[1], ARGV[3])
  return '2' .. ARGV[1] .. ';' .. standing
end
return '1' .. f[1] .. ';' .. standing
"#;
    let reply: String = pool
        .eval(script, vec![k("tok", id), format!("{P}seen")], vec![now.to_string(), touch_every.to_string(), id.into()])
        .await?;
    let Some((code, rest)) = reply.split_at_checked(1) else { return Ok(None) };
    let Some((last_seen, standing)) = rest.split_once(';') else { return Ok(None) };
    let last_seen = last_seen.parse().unwrap_or(now);
    Ok(match code {
        "1" => Some((false, last_seen, standing_of(standing))),
        "2" => Some((true, last_seen, standing_of(standing))),
        _ => None,
    })
}

/// Records a standing check started at `started_ms` unless a later one has
/// been recorded; returns the row's standing after that (`None`: row gone).
pub(crate) async fn record_standing(
    pool: &Pool,
    id: &str,
    started_ms: i64,
    json: &str,
) -> Result<Option<crate::tokens::StandingRow>, Error> {
    let script = r#"
if redis.call('EXISTS', KEYS[1]) == 0 then return '' end
local at = tonumber(redis.call('HGET', KEYS[1], 'confirmed_at') or '0')
if at < tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'confirmed_at', ARGV[1], 'standing', ARGV[2])
end
local f = redis.call('HMGET', KEYS[1], 'confirmed_at', 'standing')
return (f[1] or '0') .. '|' .. (f[2] or '')
"#;
    let reply: String = pool.eval(script, vec![k("tok", id)], vec![started_ms.to_string(), json.to_string()]).await?;
    Ok(standing_of(&reply))
}

/// (id, public_id, user_agent, created_at, last_seen) of every live sign-in of `sub`.
pub(crate) async fn sign_ins(
    pool: &Pool,
    sub: &str,
    now: i64,
) -> Result<Vec<(String, String, Option<String>, i64, i64)>, Error> {
    let ids: Vec<String> = pool.smembers(k("sub", sub)).await?;
    let mut out = Vec::new();
    for id in ids {
        let f: Vec<Option<String>> = pool
            .hmget(k("tok", &id), vec!["sub", "public_id", "user_agent", "created_at", "last_seen", "expires_at"])
            .await?;
        let get = |i: usize| f.get(i).cloned().flatten();
        if get(0).as_deref() != Some(sub) {
            let _: i64 = pool.srem(k("sub", sub), id.clone()).await?;
            continue;
        }
        let num = |i: usize| get(i).and_then(|v| v.parse().ok()).unwrap_or(0);
        if get(5).is_some() && num(5) <= now {
            continue; // over, waiting for the cleanup
        }
        out.push((id, get(1).unwrap_or_default(), get(2).filter(|u| !u.is_empty()), num(3), num(4)));
    }
    Ok(out)
}

/// The row id behind a public id.
pub(crate) async fn by_public_id(pool: &Pool, public_id: &str) -> Result<Option<String>, Error> {
    pool.get(k("pub", public_id)).await
}

/// Ids of the sign-ins of `sid` (of `sub` when both) or of `sub`.
pub(crate) async fn ids_for(pool: &Pool, sub: Option<&str>, sid: Option<&str>) -> Result<Vec<String>, Error> {
    let ids: Vec<String> = match (sub, sid) {
        (_, Some(sid)) => pool.smembers(k("sid", sid)).await?,
        (Some(sub), None) => pool.smembers(k("sub", sub)).await?,
        (None, None) => Vec::new(),
    };
    let mut out = Vec::new();
    for id in ids {
        let owner: Option<String> = pool.hget(k("tok", &id), "sub").await?;
        if owner.is_some() && (sub.is_none() || owner.as_deref() == sub) {
            out.push(id);
        }
    }
    Ok(out)
}

pub(crate) async fn try_lock(pool: &Pool, id: &str, holder: &str, lease_ms: i64) -> Result<bool, Error> {
    let r: Option<String> =
        pool.set(k("lock", id), holder, Some(Expiration::PX(lease_ms)), Some(SetOptions::NX), false).await?;
    Ok(r.is_some())
}

pub(crate) async fn renew(pool: &Pool, id: &str, holder: &str, lease_ms: i64) -> Result<bool, Error> {
    let script = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";
    let n: i64 = pool.eval(script, vec![k("lock", id)], vec![holder.to_string(), lease_ms.to_string()]).await?;
    Ok(n == 1)
}

pub(crate) async fn unlock(pool: &Pool, id: &str, holder: &str) -> Result<(), Error> {
    let script = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";
    let _: i64 = pool.eval(script, vec![k("lock", id)], vec![holder.to_string()]).await?;
    Ok(())
}

/// Stores rotated tokens, only while holding the lease.
/// Stores rotated tokens in row `id` if it still exists (whoever holds the
/// lease: the rotated refresh token is the only one that works).
pub(crate) async fn replace_sealed(pool: &Pool, id: &str, sealed: &str) -> Result<bool, Error> {
    let script = r#"
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'sealed', ARGV[1]) return 1
end
return 0
"#;
    let n: i64 = pool.eval(script, vec![k("tok", id)], vec![sealed.to_string()]).await?;
    Ok(n == 1)
}

/// Up to 100 ids of sign-ins past their absolute end (at `now`) or unseen
/// since before `unseen_since`, for the cleanup to end.
pub(crate) async fn due(pool: &Pool, now: i64, unseen_since: i64) -> Result<Vec<String>, Error> {
    let script = r#"
local ids = redis.call('ZRANGE', KEYS[1], '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, 100)
local idle = redis.call('ZRANGE', KEYS[2], '-inf', '(' .. ARGV[2], 'BYSCORE', 'LIMIT', 0, 100)
for _, id in ipairs(idle) do table.insert(ids, id) end
return ids
"#;
    pool.eval(script, vec![format!("{P}ends"), format!("{P}seen")], vec![now.to_string(), unseen_since.to_string()])
        .await
}

/// Forgets `id` in the cleanup's indexes (its row is gone already).
pub(crate) async fn forget(pool: &Pool, id: &str) -> Result<(), Error> {
    let _: i64 = pool.zrem(format!("{P}ends"), id).await?;
    let _: i64 = pool.zrem(format!("{P}seen"), id).await?;
    Ok(())
}

/// Queues a failed revocation until `give_up_at` (hash `revoke`, field: a random id).
pub(crate) async fn queue_revocation(
    pool: &Pool,
    entry: &crate::tokens::Revocation,
    give_up_at: i64,
) -> Result<(), Error> {
    let script = r#"
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIREAT', KEYS[1], ARGV[3], 'GT')
redis.call('EXPIREAT', KEYS[1], ARGV[3], 'NX')
return 1
"#;
    let json = serde_json::to_string(entry).map_err(|e| Error::new(ErrorKind::Parse, e.to_string()))?;
    let args = vec![crate::random_token(), json, give_up_at.to_string()];
    let _: i64 = pool.eval(script, vec![format!("{P}revoke")], args).await?;
    Ok(())
}

/// Takes (removes and returns) up to 100 queued revocations due at `now`;
/// an entry is taken by one caller only.
pub(crate) async fn take_due_revocations(pool: &Pool, now: i64) -> Result<Vec<crate::tokens::Revocation>, Error> {
    let all: std::collections::HashMap<String, String> = pool.hgetall(format!("{P}revoke")).await?;
    let mut taken = Vec::new();
    for (field, json) in all {
        let Ok(entry) = serde_json::from_str::<crate::tokens::Revocation>(&json) else {
            let _: i64 = pool.hdel(format!("{P}revoke"), field).await?;
            continue;
        };
        if entry.retry_at > now || taken.len() >= 100 {
            continue;
        }
        let n: i64 = pool.hdel(format!("{P}revoke"), field).await?;
        if n == 1 {
            taken.push(entry);
        }
    }
    Ok(taken)
}

pub(crate) async fn remember_jti(pool: &Pool, jti: &str, until: i64) -> Result<bool, Error> {
    let r: Option<String> =
        pool.set(k("jti", jti), "1", Some(Expiration::EXAT(until)), Some(SetOptions::NX), false).await?;
    Ok(r.is_some())
}

pub(crate) async fn forget_jti(pool: &Pool, jti: &str) -> Result<(), Error> {
    let _: i64 = pool.del(k("jti", jti)).await?;
    Ok(())
}
