/* ctl_llm: `snipctl llm journal [--job ID] [--page-size N] [--page-token T]
 * [--json]` over LlmService.ListJournal: the team's journal of structured
 * LLM calls, newest first. */
#ifndef CTL_LLM_H
#define CTL_LLM_H

/* ctl_llm_wanted returns 1 when argv's first command word is "llm". */
int ctl_llm_wanted(int argc, char **argv);

/* ctl_llm_main runs `snipctl [flags] llm journal ...` and returns the exit
 * code: 0 on success, 2 for usage errors, else the RPC failure's code as
 * snipctl's other commands map it. Prints one line per attempt (time,
 * job, attempt number, outcome, provider/model, schema, tokens, latency)
 * with its validation errors indented below, then the next page token;
 * with --json, the response as one JSON object (raw outputs included). */
int ctl_llm_main(int argc, char **argv);

#endif
