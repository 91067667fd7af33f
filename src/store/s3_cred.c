/*
 * s3_cred.c - where the s3 store's keys come from, in the order the AWS tools use: the
 * environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), else a profile
 * (AWS_PROFILE, default "default") in the shared credentials file
 * (AWS_SHARED_CREDENTIALS_FILE, default ~/.aws/credentials), an INI file:
 *
 *   [default]
 *   aws_access_key_id = AKIA...
 *   aws_secret_access_key = ...
 *   aws_session_token = ...      (optional)
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/sys.h"
#include "store/s3_int.h"

#define CRED_FILE_MAX (1u << 20)

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) *--e = '\0';
    return s;
}

/* Reads the whole file into a NUL-terminated string (caller frees); NULL when it cannot. */
static char *read_text(const char *path)
{
    int fd = sys_open(path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) return NULL;
    char *text = cairn_malloc(CRED_FILE_MAX + 1);
    size_t n = 0;
    while (text && n < CRED_FILE_MAX) {
        ssize_t got = sys_pread(fd, text + n, CRED_FILE_MAX - n, (off_t)n);
        if (got <= 0) break;
        n += (size_t)got;
    }
    sys_close(fd);
    if (text) text[n] = '\0';
    return text;
}

/* Sets c's keys from section `profile` of the INI text. */
static int parse_profile(s3_conf *c, char *text, const char *profile)
{
    bool in = false;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *l = trim(line);
        if (*l == '#' || *l == ';' || !*l) continue;
        if (*l == '[') {
            char *end = strchr(l, ']');
            if (end) *end = '\0';
            char *name = trim(l + 1);
            if (strncmp(name, "profile ", 8) == 0) name = trim(name + 8);
            in = strcmp(name, profile) == 0;
            continue;
        }
        char *eq = strchr(l, '=');
        if (!in || !eq) continue;
        *eq = '\0';
        char *k = trim(l), *v = trim(eq + 1);
        char **dst = strcmp(k, "aws_access_key_id") == 0       ? &c->access_key
                     : strcmp(k, "aws_secret_access_key") == 0 ? &c->secret_key
                     : strcmp(k, "aws_session_token") == 0     ? &c->session_token
                                                               : NULL;
        if (!dst) continue;
        free(*dst);
        *dst = cairn_strdup(v);
        if (!*dst) return ERR(CAIRN_ENOMEM, "out of memory reading s3 credentials");
    }
    return CAIRN_OK;
}

int s3_cred_load(s3_conf *c)
{
    const char *id = getenv("AWS_ACCESS_KEY_ID"), *secret = getenv("AWS_SECRET_ACCESS_KEY");
    if (id && *id && secret && *secret) {
        const char *token = getenv("AWS_SESSION_TOKEN");
        c->access_key = cairn_strdup(id);
        c->secret_key = cairn_strdup(secret);
        c->session_token = token && *token ? cairn_strdup(token) : NULL;
        if (!c->access_key || !c->secret_key || (token && *token && !c->session_token))
            return ERR(CAIRN_ENOMEM, "out of memory reading s3 credentials");
        return CAIRN_OK;
    }
    const char *profile = getenv("AWS_PROFILE");
    if (!profile || !*profile) profile = "default";
    const char *file = getenv("AWS_SHARED_CREDENTIALS_FILE");
    char *path = NULL;
    if (file && *file) {
        path = cairn_strdup(file);
    } else {
        const char *home = getenv("HOME");
        path = cairn_sprintf("%s/.aws/credentials", home && *home ? home : ".");
    }
    if (!path) return ERR(CAIRN_ENOMEM, "out of memory reading s3 credentials");
    char *text = read_text(path);
    int rc = text ? parse_profile(c, text, profile) : CAIRN_OK;
    free(text);
    if (rc == CAIRN_OK && (!c->access_key || !c->secret_key))
        rc = ERR(CAIRN_EAUTH,
                 "no s3 credentials for %s: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
                 "put aws_access_key_id and aws_secret_access_key in profile [%s] of %s",
                 c->url, profile, path);
    free(path);
    return rc;
}
