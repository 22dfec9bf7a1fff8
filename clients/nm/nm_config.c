/* nm_config: loading and validating the native host's JSON config file.
 * The host reads it once at start; a missing or broken file is reported to
 * the extension on each request instead of killing the host, so that the
 * panel can tell the rep what to fix. */
#include "clients/nm/nm_config.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/sw_mem.h"

sw_err nm_config_path(char **out)
{
    const char *env = getenv("SNIPWISE_NM_CONFIG");
    const char *home = getenv("HOME");
    struct sw_buf b;
    sw_err rc;

    sw_buf_init(&b, 8192);
    if (env && env[0])
        rc = sw_buf_addstr(&b, env);
    else if (home && home[0])
        rc = sw_buf_printf(&b, "%s/.config/snipwise/nm.json", home);
    else
        rc = SW_ESTATE;
    if (rc == SW_OK)
        rc = sw_buf_take(&b, out, NULL);
    sw_buf_free(&b);
    return rc;
}

/* nm_config_str copies the string member name of o into *dst. A missing
 * member is an error only if required. */
static sw_err nm_config_str(json_t *o, const char *name, int required,
                            char **dst, const char *path, struct sw_buf *why)
{
    json_t *v = json_object_get(o, name);

    if (v == NULL || json_is_null(v)) {
        if (!required)
            return SW_OK;
        if (sw_buf_printf(why, "%s: \"%s\" is missing", path, name))
            return SW_ENOMEM;
        return SW_EINVAL;
    }
    if (!json_is_string(v) || json_string_length(v) == 0) {
        if (sw_buf_printf(why, "%s: \"%s\" must be a non-empty string", path,
                          name))
            return SW_ENOMEM;
        return SW_EINVAL;
    }
    *dst = sw_strdup(json_string_value(v));
    return *dst ? SW_OK : SW_ENOMEM;
}

sw_err nm_config_load(const char *path, struct nm_config **out,
                      struct sw_buf *why)
{
    struct nm_config *c = NULL;
    json_t *root = NULL, *t;
    json_error_t jerr;
    FILE *f = NULL;
    sw_err rc = SW_OK;

    f = fopen(path, "re");
    if (f == NULL) {
        rc = sw_buf_printf(why, "cannot read the config file %s: %s", path,
                           strerror(errno))
                 ? SW_ENOMEM
                 : SW_EIO;
        goto out;
    }
    root = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL || !json_is_object(root)) {
        rc =
            sw_buf_printf(why, "%s is not a JSON object: %s (line %d)", path,
                          root ? "wrong type" : jerr.text, root ? 1 : jerr.line)
                ? SW_ENOMEM
                : SW_EPARSE;
        goto out;
    }
    c = sw_calloc(1, sizeof(*c));
    if (c == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    c->timeout_ms = NM_CONFIG_TIMEOUT_MS;
    c->path = sw_strdup(path);
    if (c->path == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    rc = nm_config_str(root, "addr", 1, &c->addr, path, why);
    if (rc)
        goto out;
    rc = nm_config_str(root, "key", 1, &c->key, path, why);
    if (rc)
        goto out;
    rc = nm_config_str(root, "tls_ca", 0, &c->tls_ca, path, why);
    if (rc)
        goto out;
    rc = nm_config_str(root, "rep_email", 0, &c->rep_email, path, why);
    if (rc)
        goto out;
    t = json_object_get(root, "timeout_ms");
    if (t != NULL) {
        if (!json_is_integer(t) || json_integer_value(t) < 1 ||
            json_integer_value(t) > 600000) {
            rc = sw_buf_printf(why,
                               "%s: \"timeout_ms\" must be an integer "
                               "from 1 to 600000",
                               path)
                     ? SW_ENOMEM
                     : SW_EINVAL;
            goto out;
        }
        c->timeout_ms = json_integer_value(t);
    }
    *out = c;
    c = NULL;
out:
    nm_config_free(&c);
    json_decref(root);
    if (f)
        fclose(f);
    return rc;
}

void nm_config_free(struct nm_config **c)
{
    if (c == NULL || *c == NULL)
        return;
    sw_free((*c)->path);
    sw_free((*c)->addr);
    if ((*c)->key) /* the secret does not linger in freed memory */
        explicit_bzero((*c)->key, strlen((*c)->key));
    sw_free((*c)->key);
    sw_free((*c)->tls_ca);
    sw_free((*c)->rep_email);
    sw_free(*c);
    *c = NULL;
}
