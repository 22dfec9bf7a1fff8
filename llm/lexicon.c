/* llm/lexicon: the builtin extractor's word lists. Edit freely, but rerun
 * tests/llm/builtin_eval_test: its precision/recall floors guard them. */
#include "llm/lexicon.h"

#define L(...) ((const char *const[]){__VA_ARGS__, NULL})
#define N(a) (sizeof(a) / sizeof((a)[0]))

const char *const llm_lex_framing_strong[] = {
    "attached",         "attaching",
    "attachment",       "enclosed",
    "i've included",    "i have included",
    "i've attached",    "i have attached",
    "please find",      "see the deck",
    "see the attached", "here is",
    "here's",           "here are",
    "sharing",          "i'm sending",
    "sending over",     "sent over",
    "you'll find",      "you will find",
    "take a look at",   "have a look at",
    "check out",        "included",
    "walks through",    "in this deck",
    "in the deck",      "in allegato",
    "ci-joint",         "pièce jointe",
    "im anhang",        "anbei",
    "adjunto",          NULL,
};

const char *const llm_lex_framing_noun[] = {
    "deck",       "case study",     "case studies", "one-pager",
    "one pager",  "whitepaper",     "white paper",  "brochure",
    "report",     "slides",         "guide",        "datasheet",
    "data sheet", "overview",       "pdf",          "presentation",
    "document",   "ebook",          "checklist",    "playbook",
    "proposal",   "customer story", "loom",         "recording",
    "video",      "benchmark",      NULL,
};

const char *const llm_lex_outcome[] = {
    "reduc*",    "increas*", "sav*",    "improv*", "grew",    "grow*",
    "cut*",      "boost*",   "faster",  "doubl*",  "tripl*",  "lift*",
    "drop*",     "won",      "achiev*", "roi",     "revenue", "conversion*",
    "retention", "adopt*",   NULL,
};

const char *const llm_lex_greeting[] = {
    "hi",   "hello",   "hey",    "dear",      "thanks", "thank you",
    "best", "regards", "cheers", "sincerely", NULL,
};

/* What a footer's "unsubscribe" line does not say: a person asking to
 * leave a list, or a mailbox provider's complaint report. */
const char *const llm_lex_unsub_ask[] = {
    "remove",
    "stop",
    "take me off",
    "do not",
    "don't",
    "no more",
    "off your",
    "abuse report",
    "feedback report",
    "marked as spam",
    "reported as spam",
    "spam complaint",
    NULL,
};

/* A refusal in other words: a negator ("we don't", "not") followed
 * within two words by what a refusal negates ("need", "interested",
 * "move forward", "budget"). Words are matched as llm_text_icontains
 * does, one word each. */
const char *const llm_lex_negator[] = {
    "not",     "no",     "never",    "don't",  "dont",  "won't",
    "wont",    "can't",  "cant",     "cannot", "isn't", "aren't",
    "doesn't", "didn't", "wouldn't", "nobody", "none",  NULL,
};
const char *const llm_lex_neg_target[] = {
    "interest*", "need*",    "want*",   "buy*",     "purchas*", "move",
    "moving",    "proceed*", "pursu*",  "fit",      "budget*",  "priorit*",
    "able",      "use",      "using",   "continu*", "revisit*", "ready",
    "consider*", "afford*",  "justify", "approv*",  "worth",    "going",
    "plan*",     "chang*",   "switch*", "adopt*",   "invest*",  NULL,
};

/* A reply that is a bare "no": every word one of these, and one of the
 * first three among them. */
const char *const llm_lex_bare_no[] = {
    "no",     "nope",  "nah", "just", "haha",   "sorry",
    "thanks", "thank", "you", "not",  "really", NULL,
};

const char *const llm_lex_stop[] = {
    "the",   "and",   "for",   "that",  "this",   "with",  "you",   "your",
    "are",   "was",   "were",  "have",  "has",    "had",   "but",   "not",
    "all",   "any",   "can",   "our",   "out",    "his",   "her",   "its",
    "they",  "them",  "their", "there", "then",   "than",  "from",  "into",
    "onto",  "about", "would", "could", "should", "will",  "just",  "also",
    "what",  "when",  "where", "which", "who",    "how",   "why",   "been",
    "being", "more",  "most",  "some",  "such",   "very",  "much",  "many",
    "each",  "other", "only",  "over",  "own",    "same",  "too",   "off",
    "let",   "get",   "got",   "one",   "two",    "may",   "might", "must",
    "like",  "did",   "does",  "doing", "here",   "these", "those", "well",
    "know",  "see",   "use",   "using", "used",   "make",  "made",  "want",
    "need",  "via",   "per",   "any",   "http",   "https", "www",   "com",
    NULL,
};

const struct llm_lex_rule llm_lex_reply[] = {
    {"BOUNCE",
     L("mailer-daemon", "delivery has failed", "undeliverable",
       "delivery status notification", "address not found",
       "could not be delivered", "couldn't be delivered",
       "recipient address rejected", "user unknown", "mailbox unavailable",
       "delivery failure", "message not delivered", "returned mail",
       "permanent error", "no such user", "mailbox is full", "delivery failed",
       "failed permanently", "delivery problems", "trying to deliver",
       "could not send message", "fatal error*", "unrecoverable error",
       "quota exceeded", "undelivered mail", "delivery error",
       "the original message was received", "this is the mail system",
       "do not need to resend", "don't need to resend", "not been delivered",
       "was not delivered", "delivery delayed", "domain name not found",
       "dns error", "message size exceeds", "don't have permission to post",
       "do not have permission to post", "message was rejected")},
    {"OUT_OF_OFFICE",
     L("out of the office", "out of office", "on vacation", "on holiday",
       "annual leave", "parental leave", "maternity leave",
       "away from the office", "limited access to email",
       "limited access to my email", "automatic reply", "auto-reply",
       "autoreply", "i will be back", "i'll be back", "returning on",
       "i will return", "back in the office", "currently away", "away until",
       "ooo", "away from my desk", "on sabbatical", "travelling until",
       "traveling until", "monitored only intermittently", "after my return",
       "automated response")},
    {"UNSUBSCRIBE",
     L("unsubscribe", "remove me", "stop emailing", "stop sending",
       "take me off", "do not contact", "don't contact", "do not email",
       "don't email", "opt out", "opt me out", "no more emails",
       "remove my email", "off your list", "off your mailing list",
       "remove our", "remove us", "from your outreach", "stop contacting",
       "abuse report", "feedback report", "marked as spam", "reported as spam",
       "spam complaint")},
    {"NEGATIVE",
     L("not interested", "no thanks", "no thank you", "not a fit",
       "not a good fit", "not a priority", "we're all set", "we are all set",
       "already have a", "already use", "went with", "decided to go",
       "pass on this", "not for us", "not looking", "no need",
       "not the right time", "please don't", "no budget", "not moving forward",
       "won't be moving", "will not be moving", "declin*", "we'll pass",
       "we will pass", "going to pass", "not happening", "not selected",
       "decided not to", "not to move forward", "don't need", "do not need",
       "dont need", "don't think so", "not something we can", "can't justify",
       "cannot justify", "on hold", "spending freeze", "budget freeze",
       "dealbreaker", "deal breaker", "won't revisit", "not revisit",
       "nobody wanted", "no one wanted", "different direction", "probably not",
       "not ever", "happy with what we have", "happy with our current",
       "don't have budget", "dont have budget", "do not have budget",
       "don't have the budget", "no room in the budget", "cannot use",
       "can't use", "close this out", "but no", "not for now", "not pursue",
       "not proceed", "won't proceed", "will not proceed")},
    {"POSITIVE",
     L("interested", "sounds great", "sounds good", "sounds interesting",
       "let's", "let us set", "schedule", "set up a call", "set up a time",
       "book a", "meeting", "a demo", "love to", "happy to", "would like to",
       "keen", "tell me more", "send over", "send me", "works for me",
       "how about", "free on", "available on", "available next", "calendar",
       "looks great", "great, thanks", "count me in", "yes", "please share",
       "can you share", "next steps", "loop in", "looking forward", "i agree",
       "agreed", "demo", "a trial", "paperwork", "send the invoice",
       "send invoice", "invoice to", "order form", "send the contract",
       "expect to sign", "ready to sign", "go for it", "go ahead", "set it up",
       "no problem with", "no reason to wait", "we'll take", "we will take",
       "decided to buy", "clear to proceed", "ready to proceed", "can't wait",
       "cannot wait", "booked", "see you then", "pricing for", "a quote for",
       "a sandbox", "restart the conversation", "take a call", "hop on a call",
       "exactly what we need", "kick off", "kicks off", "yep", "sign us up",
       "let's do it", "move forward with", "moving forward with")},
};
const size_t llm_lex_reply_n = N(llm_lex_reply);

const struct llm_lex_rule llm_lex_topic[] = {
    {"pricing", L("price*", "pricing", "cost*", "budget*", "discount*", "quote",
                  "licen*", "per seat", "plan")},
    {"security", L("security", "secure", "soc 2", "soc2", "encrypt*", "sso",
                   "penetration", "iso 27001")},
    {"integration", L("integrat*", "api", "salesforce", "hubspot", "connector*",
                      "webhook*", "sdk")},
    {"roi", L("roi", "return on investment", "savings", "payback", "saved",
              "revenue")},
    {"case_study", L("case study", "case studies", "customer story",
                     "success story", "customer")},
    {"product", L("feature*", "product", "roadmap", "launch*", "release*")},
    {"onboarding",
     L("onboard*", "setup", "set up", "implementation", "rollout", "training")},
    {"analytics", L("analytics", "dashboard*", "insight*", "metric*", "funnel*",
                    "report*", "data")},
    {"compliance", L("complian*", "gdpr", "hipaa", "regulat*", "audit*")},
    {"experimentation",
     L("experiment*", "a/b", "ab test*", "feature flag*", "holdout")},
    {"performance", L("performance", "latency", "speed", "faster", "scalab*")},
    {"support", L("support", "help desk", "sla", "ticket*")},
};
const size_t llm_lex_topic_n = N(llm_lex_topic);

const struct llm_lex_rule llm_lex_intent[] = {
    {"close", L("contract", "order form", "sign*", "proposal", "purchase")},
    {"follow_up", L("follow* up", "following up", "checking in",
                    "circling back", "nudge", "as promised", "as discussed")},
    {"introduce", L("introduc*", "my name is", "reaching out", "came across")},
    {"book_meeting", L("call", "meeting", "demo", "calendar", "minutes", "chat",
                       "time next week")},
    {"share_content", L("attached", "enclosed", "included", "here is", "here's",
                        "sharing", "deck", "case study")},
    {"nurture", L("thought you might", "fyi", "newsletter", "might enjoy")},
};
const size_t llm_lex_intent_n = N(llm_lex_intent);

const struct llm_lex_rule llm_lex_persona[] = {
    {"finance", L("cfo", "finance", "procurement", "controller")},
    {"engineering",
     L("cto", "engineer*", "developer*", "devops", "architect*", "technical")},
    {"product",
     L("product manager*", "pms", "product team", "head of product")},
    {"marketing", L("marketing", "cmo", "campaign*", "growth team")},
    {"sales", L("sales", "sdr", "account executive", "revenue team")},
    {"operations", L("operations", "ops", "coo")},
    {"executive",
     L("ceo", "founder", "vp", "chief", "executive", "head of", "director")},
};
const size_t llm_lex_persona_n = N(llm_lex_persona);

const struct llm_lex_rule llm_lex_stage[] = {
    {"negotiation",
     L("contract", "negotiat*", "order form", "terms", "discount", "proposal")},
    {"customer", L("your project", "your account", "renewal", "qbr",
                   "already using", "your team's usage", "you set a goal")},
    {"evaluation", L("trial", "pilot", "poc", "proof of concept", "evaluat*",
                     "compare", "comparison", "demo")},
    {"discovery", L("discovery", "learn more about your", "understand your",
                    "your goals", "your priorities")},
    {"prospecting",
     L("reaching out", "introduc*", "came across", "quick question")},
};
const size_t llm_lex_stage_n = N(llm_lex_stage);

const struct llm_lex_rule llm_lex_kind[] = {
    {"PRESENTATION", L("deck", "slides", "slide", "presentation")},
    {"PDF", L("pdf", "whitepaper", "white paper", "ebook", "case study")},
    {"SPREADSHEET", L("spreadsheet", "calculator", "xlsx", "excel")},
    {"DOCUMENT", L("one-pager", "one pager", "doc", "docx", "document",
                   "brochure", "datasheet")},
    {"HTML", L("web page", "blog post", "landing page")},
    {"TEXT", L("notes", "text file")},
    {"IMAGE", L("image", "screenshot", "diagram")},
};
const size_t llm_lex_kind_n = N(llm_lex_kind);
