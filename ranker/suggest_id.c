/* suggest_id: suggestion and item ids that prove themselves (suggest.h).
 * Each carries an HMAC-SHA256 tag, under a server secret kept in the
 * store, over the team and what the id names, so RecordFeedback can tell
 * an id the team received from one it did not without Suggest writing
 * anything. */
#include <string.h>

#include "base/sw_buf.h"
#include "base/sw_util.h"
#include "ranker/suggest.h"
#include "ranker/suggest_int.h"

/* Why self-verifying ids rather than a record of each suggestion: Suggest
 * is a read path (it never takes the store's writer, which ingest and the
 * extraction worker hold in turn), and a record per call would make every
 * Suggest a write transaction with an fsync, plus an expiry sweep. A tag
 * costs one HMAC per id and no I/O; its price is that an id stays
 * valid as long as the secret does (there is no expiry), which is what
 * feedback on an old suggestion wants anyway. The secret is the store's
 * (store_secret), so backups and restores carry it and ids survive them. */

#define RANK_SID_SECRET_KEY "suggest_id" /* store_secret name */
#define RANK_TAG_HEX 16 /* 64 bits of the HMAC: forging one is 2^-64 */
#define RANK_MAC_MSG_MAX 1024

sw_err rank__sid_secret(store *s, unsigned char key[RANK_SID_SECRET_LEN])
{
    return store_secret(s, RANK_SID_SECRET_KEY, key);
}

/* rank_mac writes the hex of the first 8 bytes of HMAC-SHA256(key, the
 * NUL-separated parts) to out (RANK_TAG_HEX + 1 bytes). */
static sw_err rank_mac(const unsigned char *key, const char *const *parts,
                       size_t n, char out[RANK_TAG_HEX + 1])
{
    unsigned char mac[SW_SHA256_LEN];
    struct sw_buf b;
    size_t i;
    sw_err rc = SW_OK;

    sw_buf_init(&b, RANK_MAC_MSG_MAX);
    for (i = 0; rc == SW_OK && i < n; i++)
        rc = sw_buf_add(&b, parts[i], strlen(parts[i]) + 1);
    if (rc == SW_OK)
        rc = sw_hmac_sha256(key, RANK_SID_SECRET_LEN, sw_buf_str(&b),
                            sw_buf_len(&b), mac);
    if (rc == SW_OK)
        sw_hex(mac, RANK_TAG_HEX / 2, out);
    sw_buf_free(&b);
    return rc;
}

sw_err rank__sid_make(const unsigned char *key, const char *team, uint64_t h,
                      struct sw_arena *a, const char **out)
{
    unsigned char hb[8];
    char hex[17], tag[RANK_TAG_HEX + 1];
    const char *parts[3];
    char *sid;
    sw_err rc;

    store_u64_put(hb, h);
    sw_hex(hb, sizeof(hb), hex);
    parts[0] = "sg";
    parts[1] = team;
    parts[2] = hex;
    rc = rank_mac(key, parts, 3, tag);
    if (rc)
        return rc;
    sid = sw_arena_printf(a, "sg_%s%s", hex, tag);
    if (sid == NULL)
        return SW_ENOMEM;
    *out = sid;
    return SW_OK;
}

sw_err rank__item_make(const unsigned char *key, const char *team,
                       const char *sid, int kind, const char *target,
                       struct sw_arena *a, const char **out)
{
    char tag[RANK_TAG_HEX + 1], k[2] = {(char)kind, '\0'};
    const char *parts[5] = {"it", team, sid, k, target};
    char *id;
    sw_err rc;

    rc = rank_mac(key, parts, 5, tag);
    if (rc)
        return rc;
    id = sw_arena_printf(a, "%s.%c.%s.%s", sid, kind, target, tag);
    if (id == NULL)
        return SW_ENOMEM;
    *out = id;
    return SW_OK;
}

sw_err rank_item_parse(const char *id, struct rank_item *out)
{
    const char *d1, *d3;
    size_t l1, l2;

    if (id == NULL)
        return SW_EINVAL;
    d1 = strchr(id, '.');
    if (d1 == NULL || (d1[1] != 'c' && d1[1] != 'f') || d1[2] != '.')
        return SW_EINVAL;
    d3 = strrchr(d1 + 3, '.');
    if (d3 == NULL || strlen(d3 + 1) != RANK_TAG_HEX)
        return SW_EINVAL;
    l1 = (size_t)(d1 - id);
    l2 = (size_t)(d3 - (d1 + 3));
    if (l1 < 4 || l1 >= sizeof(out->suggestion_id) || strncmp(id, "sg_", 3) ||
        l2 == 0 || l2 >= sizeof(out->target_id))
        return SW_EINVAL;
    memcpy(out->suggestion_id, id, l1);
    out->suggestion_id[l1] = '\0';
    out->kind = d1[1];
    memcpy(out->target_id, d1 + 3, l2);
    out->target_id[l2] = '\0';
    memcpy(out->tag, d3 + 1, RANK_TAG_HEX + 1);
    return SW_OK;
}

sw_err rank_suggestion_check(rank_engine *e, const char *team, const char *sid)
{
    char hex[17], tag[RANK_TAG_HEX + 1];
    const char *parts[3];
    sw_err rc;

    if (e == NULL || team == NULL || sid == NULL)
        return SW_EINVAL;
    if (strlen(sid) != 3 + 16 + RANK_TAG_HEX || strncmp(sid, "sg_", 3) != 0)
        return SW_ENOTFOUND;
    memcpy(hex, sid + 3, 16);
    hex[16] = '\0';
    parts[0] = "sg";
    parts[1] = team;
    parts[2] = hex;
    rc = rank_mac(rank__engine_secret(e), parts, 3, tag);
    if (rc)
        return rc;
    return sw_memeq_ct(tag, sid + 3 + 16, RANK_TAG_HEX) ? SW_OK : SW_ENOTFOUND;
}

sw_err rank_item_check(rank_engine *e, const char *team, const char *sid,
                       const char *item_id, struct rank_item *out)
{
    struct rank_item it;
    char tag[RANK_TAG_HEX + 1], k[2];
    const char *parts[5];
    sw_err rc;

    if (e == NULL || team == NULL || sid == NULL || item_id == NULL ||
        out == NULL)
        return SW_EINVAL;
    if (rank_item_parse(item_id, &it) != SW_OK ||
        strcmp(it.suggestion_id, sid) != 0)
        return SW_ENOTFOUND;
    k[0] = (char)it.kind;
    k[1] = '\0';
    parts[0] = "it";
    parts[1] = team;
    parts[2] = sid;
    parts[3] = k;
    parts[4] = it.target_id;
    rc = rank_mac(rank__engine_secret(e), parts, 5, tag);
    if (rc)
        return rc;
    if (!sw_memeq_ct(tag, it.tag, RANK_TAG_HEX))
        return SW_ENOTFOUND;
    *out = it;
    return SW_OK;
}
