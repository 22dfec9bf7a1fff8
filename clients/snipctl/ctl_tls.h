/* ctl_tls: snipctl's client certificate for servers that ask for one
 * (snipd --tls-client-ca). --tls-cert FILE and --tls-key FILE may come
 * anywhere on the line, for every subcommand; they beat SNIPWISE_TLS_CERT
 * and SNIPWISE_TLS_KEY. */
#ifndef CTL_TLS_H
#define CTL_TLS_H

#include "clients/snipc.h"

/* ctl_tls_take removes --tls-cert/--tls-key (FILE or =FILE) from argv,
 * updating *argc, and puts them in SNIPWISE_TLS_CERT/SNIPWISE_TLS_KEY.
 * Returns 0, or -1 after printing why on stderr (a flag without a value,
 * or one of the two without the other). Call once, before threads start
 * (it changes the environment). */
int ctl_tls_take(int *argc, char **argv);

/* ctl_tls_opts sets o->tls_cert and o->tls_key from the environment. The
 * strings are the environment's; they stay valid while it is unchanged. */
void ctl_tls_opts(struct snipc_opts *o);

#endif
