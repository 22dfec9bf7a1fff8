/* ctl_enum: command-line words for API enums, from the generated enum
 * descriptors, so a word and its value cannot drift apart: "meeting_booked"
 * is OUTCOME_KIND_MEETING_BOOKED without its prefix, lowercased. */
#ifndef CTL_ENUM_H
#define CTL_ENUM_H

#include <protobuf-c/protobuf-c.h>

/* ctl_enum_value returns the value of word in enum d (values named
 * PREFIX_WORD; the UNSPECIFIED one is not offered), or -1 after printing
 * "snipctl: FLAG 'word' is not one of: a, b, c" on stderr. */
int ctl_enum_value(const ProtobufCEnumDescriptor *d, const char *flag,
                   const char *word);

#endif
