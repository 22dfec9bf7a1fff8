/* svc_alias: one table of the API's renamed fields. Within snipwise.v1 a
 * field is never renamed (buf breaking, proto/README.md): the better name
 * is added under a new number and the old one stays, documented as
 * deprecated. The server keeps each pair equal from this table alone, so
 * that handlers, old clients and new ones may use either name: in a
 * request as decoded and in a response before it is encoded, whichever of
 * the two is set fills the other (a pair both set is left as it is).
 * Messages are walked recursively (nested and repeated messages too).
 * Thread-safe (the table is constant). */
#ifndef SVC_ALIAS_H
#define SVC_ALIAS_H

#include <protobuf-c/protobuf-c.h>

#include "base/sw_err.h"

/* svc_alias_check verifies the table against the descriptors: both
 * fields exist, are singular and of one type. snipd refuses to start
 * otherwise (as with the method table). SW_EINTERNAL, logged. */
SW_MUST_CHECK sw_err svc_alias_check(void);

/* svc_alias_fill applies the table to m and every message inside it. */
void svc_alias_fill(ProtobufCMessage *m);

#endif
