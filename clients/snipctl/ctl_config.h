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

#endif
