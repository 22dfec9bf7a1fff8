"""The team simulator's world: a scenario file (JSON, see docs/SIMULATOR.md)
turned into reps, prospects, content items, framing families, the hidden
truth of what works where, and the schedule of threads.

Everything here is a pure function of the scenario and its seed: every
random draw comes from a generator derived from (seed, purpose, ids) by
SHA-256 (never Python's salted hash()), lists are iterated in their given
order, and no clock is read.
"""

import hashlib
import json
import math
import os
import random

SEGMENT_DIMS = ("industry", "persona", "stage")

# Built-in wording for segment values; a scenario may override any label.
_LABELS = {
    "saas": "software",
    "manufacturing": "manufacturing",
    "healthcare": "healthcare",
    "finance": "financial services",
    "retail": "retail",
    "logistics": "logistics",
    "cto": "CTO",
    "cfo": "CFO",
    "vp_sales": "VP of Sales",
    "head_of_product": "Head of Product",
    "it_manager": "IT Manager",
    "cold": "early research",
    "discovery": "discovery",
    "evaluation": "evaluation",
    "negotiation": "negotiation",
}

_FIRST = ["Alex", "Sam", "Jordan", "Taylor", "Morgan", "Casey", "Riley",
          "Jamie", "Avery", "Quinn", "Dana", "Robin", "Kai", "Noa", "Lee",
          "Maya", "Omar", "Ines", "Lena", "Tomas", "Priya", "Chen", "Ana",
          "Felix", "Hana", "Ivan", "Zoe", "Nils", "Sara", "Yusuf"]
_LAST = ["Smith", "Garcia", "Nguyen", "Schmidt", "Rossi", "Kowalski",
         "Dubois", "Silva", "Jensen", "Novak", "Okafor", "Tanaka", "Berg",
         "Moreau", "Costa", "Fischer", "Haddad", "Larsen", "Murphy", "Patel"]
_CO_A = ["North", "Blue", "Iron", "Bright", "Cedar", "Silver", "Harbor",
         "Summit", "Granite", "Aurora", "Delta", "Maple", "Orbit", "Pioneer"]
_CO_B = ["Works", "Systems", "Labs", "Group", "Logistics", "Health",
         "Analytics", "Partners", "Dynamics", "Industries", "Networks"]


class ScenarioError(ValueError):
    """The scenario file is malformed; the message says where and why."""


def rng_for(seed, *keys):
    """A random.Random seeded from (seed, keys) through SHA-256, so that one
    concern's draws never depend on how many draws another made."""
    h = hashlib.sha256(repr((int(seed),) + tuple(keys)).encode()).digest()
    return random.Random(int.from_bytes(h[:16], "big"))


def sigmoid(x):
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def label(value, labels):
    return labels.get(value) or _LABELS.get(value) or value.replace("_", " ")


# --- scenario file ----------------------------------------------------------


def _req(d, key, where, kind=None):
    if not isinstance(d, dict) or key not in d:
        raise ScenarioError("%s: missing %r" % (where, key))
    v = d[key]
    if kind is not None and not isinstance(v, kind):
        raise ScenarioError("%s.%s: expected %s" %
                            (where, key, getattr(kind, "__name__", kind)))
    return v


def _num(d, key, where, default, lo=None, hi=None):
    v = d.get(key, default) if isinstance(d, dict) else default
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ScenarioError("%s.%s: expected a number" % (where, key))
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ScenarioError("%s.%s: %r outside [%s, %s]" %
                            (where, key, v, lo, hi))
    return float(v)


def _int(d, key, where, default, lo=None, hi=None):
    v = _num(d, key, where, default, lo, hi)
    if v != int(v):
        raise ScenarioError("%s.%s: expected an integer" % (where, key))
    return int(v)


def _effects(d, where, seg_values, topics):
    eff = d.get("effects", {})
    if not isinstance(eff, dict):
        raise ScenarioError("%s.effects: expected an object" % where)
    out = {}
    for k in sorted(eff):
        dim, _, val = k.partition(":")
        ok = (dim in SEGMENT_DIMS and val in seg_values[dim]) or (
            dim == "topic" and val in topics)
        if not ok:
            raise ScenarioError("%s.effects: unknown key %r (use industry:, "
                                "persona:, stage: or topic: with a declared "
                                "value)" % (where, k))
        out[k] = _num(eff, k, where + ".effects", 0.0, -5, 5)
    return out


def load_scenario(path):
    """Reads and validates a scenario file; returns the dict (normalised)."""
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except (OSError, ValueError) as e:
        raise ScenarioError("%s: %s" % (path, e)) from None
    return validate(raw)


def validate(raw):
    """Checks a parsed scenario and fills defaults; raises ScenarioError."""
    if not isinstance(raw, dict):
        raise ScenarioError("scenario: expected a JSON object")
    s = {"name": _req(raw, "name", "scenario", str),
         "seed": _int(raw, "seed", "scenario", 1, 0, 2**62),
         "description": raw.get("description", "")}
    s["start_date"] = raw.get("start_date", "2024-03-04")
    tl = raw.get("timeline", {})
    s["history_days"] = _int(tl, "history_days", "timeline", 0, 0, 3650)
    s["days"] = _int(tl, "days", "timeline", 10, 1, 3650)
    s["threads_per_rep_per_day"] = _num(tl, "threads_per_rep_per_day",
                                        "timeline", 2, 0, 100)
    s["cold_share"] = _num(tl, "cold_share", "timeline", 0.0, 0, 1)

    team = raw.get("team", {})
    s["team_name"] = team.get("name", "Simulated team")
    s["domain"] = team.get("domain", "seller.example")

    reps = _req(raw, "reps", "scenario", dict)
    if "skills" in reps:
        skills = reps["skills"]
        if not isinstance(skills, list) or not skills:
            raise ScenarioError("reps.skills: expected a non-empty list")
        s["skills"] = [_num({"v": v}, "v", "reps.skills", 0, 0, 1)
                       for v in skills]
    else:
        n = _int(reps, "count", "reps", 4, 1, 1000)
        lo = _num(reps, "skill_min", "reps", 0.2, 0, 1)
        hi = _num(reps, "skill_max", "reps", 0.8, lo, 1)
        s["skills"] = [lo + (hi - lo) * i / max(1, n - 1) for i in range(n)]

    segs = _req(raw, "segments", "scenario", dict)
    s["segments"] = {}
    s["labels"] = dict(raw.get("labels", {}))
    for dim in SEGMENT_DIMS:
        vals = _req(segs, dim, "segments", list)
        if not vals or not all(isinstance(v, str) and v for v in vals):
            raise ScenarioError("segments.%s: expected non-empty strings" %
                                dim)
        if len(set(vals)) != len(vals):
            raise ScenarioError("segments.%s: duplicate value" % dim)
        s["segments"][dim] = list(vals)
    mail = raw.get("mail", {})
    if not isinstance(mail, dict) or not isinstance(
            mail.get("industry_in_text", True), bool):
        raise ScenarioError("mail: expected {\"industry_in_text\": bool}")
    # False: the prospect's industry shows only in who they are (their
    # company's domain), never in the words of the mail.
    s["industry_in_text"] = mail.get("industry_in_text", True)
    pros = raw.get("prospects", {})
    s["prospect_count"] = _int(pros, "count", "prospects", 50, 1, 100000)
    s["company_count"] = _int(pros, "companies", "prospects", 10, 1, 10000)
    # True: every prospect works at a company of its own (companies is then
    # the prospect count). With at least as many prospects as threads, no
    # two threads share a company, so the team never knows the account it
    # writes to: the industry is only in the words (issue 21).
    per = pros.get("company_per_prospect", False)
    if not isinstance(per, bool):
        raise ScenarioError("prospects.company_per_prospect: expected a bool")
    s["company_per_prospect"] = per
    if per:
        s["company_count"] = s["prospect_count"]

    topics = _req(raw, "topics", "scenario", list)
    s["topics"] = []
    for i, t in enumerate(topics):
        w = "topics[%d]" % i
        tid = _req(t, "id", w, str)
        phrases = t.get("phrases", [tid.replace("_", " ")])
        if not phrases or not all(isinstance(p, str) for p in phrases):
            raise ScenarioError(w + ".phrases: expected strings")
        s["topics"].append({"id": tid, "phrases": list(phrases),
                            "weight": _num(t, "weight", w, 1.0, 0, 1e6)})
    topic_ids = [t["id"] for t in s["topics"]]
    if len(set(topic_ids)) != len(topic_ids) or not topic_ids:
        raise ScenarioError("topics: need unique ids")

    s["off_topic_penalty"] = _num(raw.get("truth", {}), "off_topic_penalty",
                                  "truth", 0.5, 0, 10)
    s["unmapped_framing_quality"] = _num(raw.get("truth", {}),
                                         "unmapped_framing_quality", "truth",
                                         -0.3, -5, 5)

    s["contents"] = []
    for i, c in enumerate(_req(raw, "contents", "scenario", list)):
        w = "contents[%d]" % i
        item = _item(c, w, s, topic_ids)
        src = _req(c, "source", w, dict)
        if "corpus" in src:
            item["corpus"] = _req(src, "corpus", w + ".source", str)
        elif "generate" in src:
            g = src["generate"]
            item["generate_words"] = _int(g, "words", w + ".source.generate",
                                          250, 20, 20000)
        else:
            raise ScenarioError(w + ".source: needs corpus or generate")
        item["title"] = c.get("title", item["id"])
        s["contents"].append(item)
    s["families"] = []
    for i, fam in enumerate(_req(raw, "framings", "scenario", list)):
        w = "framings[%d]" % i
        item = _item(fam, w, s, topic_ids)
        item["sentence"] = _req(fam, "sentence", w, str)
        var = fam.get("variants", 3)
        if isinstance(var, list):
            if not var or not all(isinstance(v, str) and v for v in var):
                raise ScenarioError(w + ".variants: expected strings")
            item["variants"] = list(var)
        else:
            item["variants"] = _int(fam, "variants", w, 3, 1, 20)
        s["families"].append(item)
    for kind in ("contents", "families"):
        ids = [x["id"] for x in s[kind]]
        if not ids or len(set(ids)) != len(ids):
            raise ScenarioError("%s: need at least one, unique ids" % kind)

    rm = raw.get("reply_model", {})
    s["reply"] = {
        "pos_base": _num(rm, "positive_base", "reply_model", -1.0),
        "pos_quality": _num(rm, "positive_quality", "reply_model", 1.5),
        "pos_skill": _num(rm, "positive_skill", "reply_model", 0.8),
        "neutral_base": _num(rm, "neutral_base", "reply_model", -1.0),
        "neg_base": _num(rm, "negative_base", "reply_model", -1.5),
        "neg_quality": _num(rm, "negative_quality", "reply_model", 0.8),
        "unsub_base": _num(rm, "unsubscribe_base", "reply_model", -3.0),
        "unsub_quality": _num(rm, "unsubscribe_quality", "reply_model", 1.0),
        "ooo": _num(rm, "out_of_office", "reply_model", 0.04, 0, 1),
        "bounce": _num(rm, "bounce", "reply_model", 0.02, 0, 1),
        "noise_sd": _num(rm, "noise_sd", "reply_model", 0.3, 0, 10),
        "segment_bias": _effects({"effects": rm.get("segment_bias", {})},
                                 "reply_model.segment_bias", s["segments"],
                                 topic_ids),
        "delay_days": _range(rm, "delay_days", "reply_model", [0, 2]),
    }
    cv = raw.get("conversion", {})
    s["conv"] = {
        "meet_base": _num(cv, "meeting_base", "conversion", -0.5),
        "meet_quality": _num(cv, "meeting_quality", "conversion", 0.8),
        "meet_skill": _num(cv, "meeting_skill", "conversion", 0.6),
        "deal_base": _num(cv, "deal_base", "conversion", -1.0),
        "deal_quality": _num(cv, "deal_quality", "conversion", 0.5),
        "deal_skill": _num(cv, "deal_skill", "conversion", 0.6),
        "meet_delay": _range(cv, "meeting_delay_days", "conversion", [1, 3]),
        "deal_delay": _range(cv, "deal_delay_days", "conversion", [3, 10]),
    }
    pol = raw.get("policy", {})
    s["policy"] = {
        "follow": _num(pol, "follow_suggestion", "policy", 0.7, 0, 1),
        "follow_weak_bonus": _num(pol, "follow_weak_bonus", "policy", 0.0,
                                  -1, 1),
        "habit_skill_tilt": _num(pol, "habit_skill_tilt", "policy", 2.0, 0,
                                 50),
        "habit_noise": _num(pol, "habit_noise", "policy", 0.7, 0, 10),
        "topic_match_boost": _num(pol, "topic_match_boost", "policy", 4.0, 1,
                                  1000),
    }
    return s


def _range(d, key, where, default):
    v = d.get(key, default)
    if (not isinstance(v, list) or len(v) != 2 or
            not all(isinstance(x, (int, float)) for x in v) or
            v[0] < 0 or v[1] < v[0]):
        raise ScenarioError("%s.%s: expected [min, max] days" % (where, key))
    return [float(v[0]), float(v[1])]


def _item(d, where, s, topic_ids):
    iid = _req(d, "id", where, str)
    topics = d.get("topics", [])
    if not isinstance(topics, list) or any(t not in topic_ids
                                           for t in topics):
        raise ScenarioError(where + ".topics: unknown topic")
    total = s["history_days"] + s["days"]
    return {
        "id": iid,
        "topics": list(topics),
        "base": _num(d, "base", where, 0.0, -5, 5),
        "effects": _effects(d, where, s["segments"], topic_ids),
        "introduced_day": _int(d, "introduced_day", where, 0, 0, total - 1),
        "adopters": _num(d, "adopters", where, 1.0, 0, 1),
        "probe": bool(d.get("probe", False)),
    }


# --- the world --------------------------------------------------------------


class Item:
    """A content item or framing family with its hidden effectiveness."""

    def __init__(self, spec, kind):
        self.kind = kind  # "content" or "framing"
        self.id = spec["id"]
        self.topics = spec["topics"]
        self.base = spec["base"]
        self.effects = spec["effects"]
        self.introduced_day = spec["introduced_day"]
        self.adopters = spec["adopters"]
        self.probe = spec["probe"]
        self.spec = spec


def truth(item, segment, topic, off_topic_penalty):
    """Hidden effectiveness of item for a (segment, topic) context."""
    q = item.base
    for dim in SEGMENT_DIMS:
        q += item.effects.get("%s:%s" % (dim, segment[dim]), 0.0)
    q += item.effects.get("topic:" + topic, 0.0)
    if item.topics and topic not in item.topics:
        q -= off_topic_penalty
    return q


def variants_of(sentence, n, rng):
    """n near-identical edits of one sentence (the family's first member is
    the sentence itself): a changed opener, a synonym, punctuation."""
    swaps = [("help", "helps"), ("in half", "by half"), ("teams", "companies"),
             ("quickly", "fast"), ("cut", "reduce"), ("our", "the"),
             ("weeks", "a few weeks"), ("customers", "clients"),
             ("show", "shows"), ("most", "many")]
    openers = ["", "In short, ", "Worth noting: ", "Quick context: ",
               "For what it's worth, ", "Honestly, "]
    out = [sentence]
    tries = 0
    while len(out) < n and tries < 200:
        tries += 1
        s = sentence
        words = s.split(" ")
        for a, b in swaps:
            if rng.random() < 0.5 and (" %s " % a) in (" %s " % s):
                s = (" %s " % s).replace(" %s " % a, " %s " % b, 1).strip()
                break
        op = openers[rng.randrange(len(openers))]
        if op and words:
            s = op + s[0].lower() + s[1:]
        if rng.random() < 0.3 and s.endswith("."):
            s = s[:-1] + "!"
        if s not in out:
            out.append(s)
    i = 0
    while len(out) < n:  # a sentence with no editable part: mark the copy
        i += 1
        out.append(sentence.rstrip(".!") + " (%d)." % (i + 1))
    return out


def _words(rng, n, topic_phrases):
    bank = ["team", "rollout", "results", "adoption", "workflow", "pipeline",
            "quarter", "process", "customers", "platform", "data",
            "reporting", "integration", "security", "budget", "review",
            "timeline", "onboarding", "outcome", "benchmark", "cost", "risk"]
    out = []
    for i in range(n):
        if i % 17 == 0 and topic_phrases:
            out.append(topic_phrases[rng.randrange(len(topic_phrases))])
        else:
            out.append(bank[rng.randrange(len(bank))])
    return out


def generated_document(seed, item_id, title, topic_phrases, words):
    """A deterministic plain-text document (title, sections, prose)."""
    rng = rng_for(seed, "doc", item_id)
    lines = [title, "=" * len(title), ""]
    left = words
    sec = 0
    while left > 0:
        sec += 1
        lines.append("%d. %s" % (sec, " ".join(_words(rng, 3, topic_phrases))
                                 .capitalize()))
        n = min(left, 40 + rng.randrange(40))
        body = " ".join(_words(rng, n, topic_phrases))
        lines.append(body[0].upper() + body[1:] + ".")
        lines.append("")
        left -= n
    return ("\n".join(lines) + "\n").encode("utf-8")


_MEDIA = {".pdf": "application/pdf", ".md": "text/markdown",
          ".txt": "text/plain", ".html": "text/html",
          ".docx": "application/vnd.openxmlformats-officedocument."
                   "wordprocessingml.document",
          ".pptx": "application/vnd.openxmlformats-officedocument."
                   "presentationml.presentation",
          ".xlsx": "application/vnd.openxmlformats-officedocument."
                   "spreadsheetml.sheet"}


def find_corpus(explicit=None):
    """The corpus root: explicit, $SIM_CORPUS, Bazel runfiles, or the
    repository's tests/corpus. None if none exists."""
    here = os.path.dirname(os.path.abspath(__file__))
    cands = [explicit, os.environ.get("SIM_CORPUS")]
    src = os.environ.get("TEST_SRCDIR")
    if src:
        cands += [os.path.join(src, "corpus"),
                  os.path.join(src, "snipwise", "external", "corpus")]
    cands.append(os.path.join(here, "..", "corpus"))
    for c in cands:
        if c and os.path.isdir(c):
            return os.path.normpath(c)
    return None


class Rep:
    def __init__(self, idx, name, email, skill, follow):
        self.idx, self.name, self.email = idx, name, email
        self.first = name.split(" ")[0]
        self.skill, self.follow = skill, follow
        self.habit = {}  # item id -> habit weight (0 = never by habit)
        self.variant = {}  # family id -> variant index this rep writes


class Prospect:
    def __init__(self, idx, name, email, company, segment):
        self.idx, self.name, self.email = idx, name, email
        self.first = name.split(" ")[0]
        self.company, self.segment = company, segment


class ThreadPlan:
    """One thread of the schedule: who, with whom, when, about what."""

    def __init__(self, idx, day, minute, rep, prospect, topic, cold):
        self.idx, self.day, self.minute = idx, day, minute
        self.rep, self.prospect, self.topic, self.cold = (rep, prospect,
                                                          topic, cold)


class World:
    """The hidden world of one scenario and seed."""

    def __init__(self, scen, seed=None, corpus=None):
        s = self.s = scen
        self.seed = s["seed"] if seed is None else int(seed)
        self.total_days = s["history_days"] + s["days"]
        self.eval_start = s["history_days"]
        self.labels = s["labels"]
        self._build_reps()
        self._build_prospects()
        self.contents = [Item(c, "content") for c in s["contents"]]
        self.families = [Item(f, "framing") for f in s["families"]]
        self.items = {i.id: i for i in self.contents + self.families}
        self._build_documents(corpus)
        self._build_variants()
        self._build_habits()
        self._build_schedule()

    # reps, prospects ------------------------------------------------------
    def _build_reps(self):
        s = self.s
        rng = rng_for(self.seed, "reps")
        names = _unique_names(rng, len(s["skills"]))
        self.reps = []
        for i, skill in enumerate(s["skills"]):
            first, last = names[i]
            pol = s["policy"]
            follow = min(1.0, max(0.0, pol["follow"] + pol["follow_weak_bonus"]
                                  * (0.5 - skill) * 2))
            email = "%s.%s@%s" % (first.lower(), last.lower(), s["domain"])
            self.reps.append(Rep(i, "%s %s" % (first, last), email, skill,
                                 follow))
        order = sorted(self.reps, key=lambda r: (r.skill, r.idx))
        k = max(1, int(math.ceil(len(order) / 4.0)))
        self.weak_reps = [r.idx for r in order[:k]]

    def _build_prospects(self):
        s = self.s
        rng = rng_for(self.seed, "prospects")
        self.companies = []
        used = set()
        for c in range(s["company_count"]):
            for _ in range(1000):
                name = "%s %s" % (_CO_A[rng.randrange(len(_CO_A))],
                                  _CO_B[rng.randrange(len(_CO_B))])
                if name not in used:
                    break
            else:
                name = "%s %s %d" % (_CO_A[0], _CO_B[0], c)
            used.add(name)
            dom = name.lower().replace(" ", "") + ".example"
            ind = s["segments"]["industry"]
            self.companies.append({"name": name, "domain": dom,
                                   "industry": ind[rng.randrange(len(ind))]})
        self.prospects = []
        names = _unique_names(rng, s["prospect_count"])
        for i in range(s["prospect_count"]):
            if s["company_per_prospect"]:
                comp = self.companies[i]
            else:
                comp = self.companies[rng.randrange(len(self.companies))]
            seg = {"industry": comp["industry"]}
            for dim in ("persona", "stage"):
                vals = s["segments"][dim]
                seg[dim] = vals[rng.randrange(len(vals))]
            first, last = names[i]
            email = "%s.%s@%s" % (first.lower(), last.lower(), comp["domain"])
            self.prospects.append(Prospect(i, "%s %s" % (first, last), email,
                                           comp, seg))

    # items ----------------------------------------------------------------
    def _build_documents(self, corpus):
        self.documents = {}
        for c in self.contents:
            spec = c.spec
            if "corpus" in spec:
                root = find_corpus(corpus)
                if root is None:
                    raise ScenarioError("content %s needs the corpus; none "
                                        "found (give --corpus)" % c.id)
                path = os.path.join(root, spec["corpus"])
                try:
                    with open(path, "rb") as f:
                        data = f.read()
                except OSError as e:
                    raise ScenarioError("content %s: %s" % (c.id, e)) from None
                fname = os.path.basename(path)
            else:
                phrases = []
                for t in self.s["topics"]:
                    if t["id"] in c.topics:
                        phrases += t["phrases"]
                data = generated_document(self.seed, c.id, spec["title"],
                                          phrases, spec["generate_words"])
                fname = spec["title"].replace(" ", "_") + ".txt"
            ext = os.path.splitext(fname)[1].lower()
            self.documents[c.id] = {
                "title": spec["title"], "filename": fname, "data": data,
                "media_type": _MEDIA.get(ext, "application/octet-stream"),
                "sha256": hashlib.sha256(data).hexdigest()}
        shas = [d["sha256"] for d in self.documents.values()]
        if len(set(shas)) != len(shas):
            raise ScenarioError("two content items have identical bytes")

    def _build_variants(self):
        self.variants = {}
        for f in self.families:
            v = f.spec["variants"]
            if isinstance(v, int):
                v = variants_of(f.spec["sentence"], v,
                                rng_for(self.seed, "variants", f.id))
            self.variants[f.id] = v
        for r in self.reps:
            for f in self.families:
                r.variant[f.id] = ((r.idx + len(f.id)) %
                                   len(self.variants[f.id]))

    def _build_habits(self):
        """Each rep's own habit weights: skilled reps lean toward what truly
        works on average, everyone has idiosyncratic favourites; a new item
        is picked up by a share of the reps (its adopters)."""
        pol = self.s["policy"]
        for item in self.contents + self.families:
            mean = self.mean_truth(item)
            order = list(range(len(self.reps)))
            rng_for(self.seed, "adopters", item.id).shuffle(order)
            n_adopt = int(round(item.adopters * len(self.reps)))
            if item.introduced_day > 0:
                n_adopt = max(1, n_adopt)
            adopters = set(order[:n_adopt]) if item.introduced_day > 0 else \
                set(order)
            for r in self.reps:
                g = rng_for(self.seed, "habit", r.idx, item.id).gauss(0, 1)
                w = math.exp(pol["habit_skill_tilt"] * r.skill * mean +
                             pol["habit_noise"] * g)
                r.habit[item.id] = w if r.idx in adopters else 0.0

    def mean_truth(self, item):
        """Effectiveness averaged over all segments and topics (uniform)."""
        segs = self.s["segments"]
        tot, n = 0.0, 0
        for ind in segs["industry"]:
            for per in segs["persona"]:
                for st in segs["stage"]:
                    seg = {"industry": ind, "persona": per, "stage": st}
                    for t in self.s["topics"]:
                        tot += truth(item, seg, t["id"],
                                     self.s["off_topic_penalty"])
                        n += 1
        return tot / n

    def truth(self, item_id, segment, topic):
        return truth(self.items[item_id], segment, topic,
                     self.s["off_topic_penalty"])

    # schedule -------------------------------------------------------------
    def _build_schedule(self):
        s = self.s
        rng = rng_for(self.seed, "schedule")
        tw = [t["weight"] for t in s["topics"]]
        self.threads = []
        pidx = 0
        porder = list(range(len(self.prospects)))
        rng.shuffle(porder)
        for day in range(self.total_days):
            for rep in self.reps:
                lam = s["threads_per_rep_per_day"]
                n = int(lam) + (1 if rng.random() < lam - int(lam) else 0)
                for _ in range(n):
                    p = self.prospects[porder[pidx % len(porder)]]
                    pidx += 1
                    topic = rng.choices(s["topics"], weights=tw)[0]["id"]
                    minute = 8 * 60 + rng.randrange(8 * 60)
                    cold = rng.random() < s["cold_share"]
                    self.threads.append(ThreadPlan(0, day, minute, rep.idx,
                                                   p.idx, topic, cold))
        self.threads.sort(key=lambda t: (t.day, t.minute, t.rep, t.prospect))
        for i, t in enumerate(self.threads):
            t.idx = i

    def available(self, item_id, day):
        return self.items[item_id].introduced_day <= day

    def summary(self):
        """The parts of the world a report shows (the hidden truth too)."""
        return {
            "reps": [{"email": r.email, "skill": round(r.skill, 6),
                      "follow": round(r.follow, 6),
                      "weak_quartile": r.idx in self.weak_reps}
                     for r in self.reps],
            "prospects": len(self.prospects),
            "threads": len(self.threads),
            "history_days": self.s["history_days"],
            "days": self.s["days"],
            "contents": [{"id": c.id, "file": self.documents[c.id]["filename"],
                          "bytes": len(self.documents[c.id]["data"]),
                          "mean_truth": round(self.mean_truth(c), 6),
                          "introduced_day": c.introduced_day}
                         for c in self.contents],
            "framings": [{"id": f.id, "variants": len(self.variants[f.id]),
                          "mean_truth": round(self.mean_truth(f), 6),
                          "introduced_day": f.introduced_day,
                          "probe": f.probe} for f in self.families],
        }


def _unique_names(rng, n):
    out, seen = [], set()
    for i in range(n):
        for _ in range(50):
            nm = (_FIRST[rng.randrange(len(_FIRST))],
                  _LAST[rng.randrange(len(_LAST))])
            if nm not in seen:
                break
        if nm in seen:
            nm = (nm[0], "%s%d" % (nm[1], i))
        seen.add(nm)
        out.append(nm)
    return out
