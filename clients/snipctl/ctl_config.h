/* ctl_config: snipctl's config file, the last source of the address and the
 * key (after --addr/--key and SNIPWISE_ADDR/SNIPWISE_KEY). The file is
 * $SNIPWISE_CONFIG, else ~/.config/snipwise/snipctl.conf, with lines
 *   addr = 127.0.0.1:50051
 *   key = sk_...            (or)   key_file = /path/to/key
 * and # comments. */
#ifndef CTL_CONFIG_H
#define CTL_CONFIG_H

/* ctl_config_env reads the config file, if there is one, and sets
 * SNIPWISE_ADDR and SNIPWISE_KEY from it where they are not set already,
 * so that every subcommand sees one precedence. Returns 0 when there is no
 * file or it was applied; otherwise prints why on stderr and returns -1
 * (an unreadable or malformed file is an error, not silently ignored).
 * Call once, before threads start (it changes the environment). */
int ctl_config_env(void);

/* ctl_key_file_take removes `--key-file PATH` from argv (updating *argc)
 * and sets SNIPWISE_KEY from the file's first line, over the environment
 * (a flag wins); without the flag, SNIPWISE_KEY_FILE is read when
 * SNIPWISE_KEY is unset. Keys then stay off command lines and out of
 * shell history. Returns 0, or -1 after saying why on stderr. Call
 * before ctl_config_env. */
int ctl_key_file_take(int *argc, char **argv);

#endif
