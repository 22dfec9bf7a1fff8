// Tests of the panel's pure logic (clients/thunderbird/panel_logic.js)
// with Node's built-in test runner.
import assert from "node:assert/strict";
import test from "node:test";

import { createHash } from "node:crypto";

import {
  ContentAssembler, attachmentOf, bareAddress, base64Bytes,
  buildSuggestRequest, draftOwnText, evidenceText, feedbackRequest,
  findAttachment, htmlToText, insertFraming, notKeptContent, percent,
  readContentRequest, renderModel, shownRequests,
} from "../../clients/thunderbird/panel_logic.js";

const RESPONSE = {
  suggestion_id: "sg_1",
  model_version: "m7",
  query: { topics: ["pricing"] },
  contents: [{
    item_id: "c0", content_id: "ct_pdf", title: "Pricing.pdf",
    kind: "CONTENT_KIND_PDF", key_passage: "Plans start at 10 dollars",
    score: { total: 0.8 },
    evidence: { times_used: 40, reps: 9, threads: 37, positive_rate: 0.4123,
      team_baseline_rate: 0.18, meetings: 3, deals_won: 1 },
    explanation: "used by 9 reps",
  }],
  framings: [
    { item_id: "f0", snippet_id: "sn_1", text: "I've attached our pricing.",
      content_id: "ct_pdf", score: { total: 0.9 },
      evidence: { times_used: 5, reps: 1, threads: 1, positive_rate: 1,
        team_baseline_rate: 0.25 } },
    { item_id: "f1", snippet_id: "sn_2", text: "Happy to walk you through it.",
      score: { total: 0.5 }, evidence: {} },
  ],
};

test("evidence text matches the product's wording", () => {
  assert.equal(evidenceText(RESPONSE.contents[0].evidence),
    "used by 9 reps in 37 threads, 41% positive vs 18% team " +
    "(3 meetings, 1 deal won)");
  assert.equal(evidenceText(RESPONSE.framings[0].evidence),
    "used by 1 rep in 1 thread, 100% positive vs 25% team");
  assert.equal(evidenceText({}), "new: no track record yet");
  assert.equal(evidenceText(undefined), "new: no track record yet");
  // int64 fields may arrive as strings from other JSON mirrors.
  assert.equal(evidenceText({ times_used: "2", reps: "2", threads: "2",
    positive_rate: 0.5, team_baseline_rate: 0.5 }),
  "used by 2 reps in 2 threads, 50% positive vs 50% team");
  assert.equal(percent(1.7), "100%");
  assert.equal(percent(-1), "0%");
  assert.equal(percent("x"), "0%");
});

test("render model keeps the server's order and links framings to files", () => {
  const m = renderModel(RESPONSE);
  assert.equal(m.suggestionId, "sg_1");
  assert.equal(m.modelVersion, "m7");
  assert.deepEqual(m.framings.map((f) => f.itemId), ["f0", "f1"]);
  assert.equal(m.framings[0].contentTitle, "Pricing.pdf");
  assert.equal(m.framings[1].contentTitle, "");
  assert.equal(m.framings[1].evidence, "new: no track record yet");
  assert.equal(m.contents[0].kind, "PDF");
  assert.equal(m.contents[0].keyPassage, "Plans start at 10 dollars");
  assert.deepEqual(m.topics, ["pricing"]);
  assert.equal(m.empty, false);
  const e = renderModel({ suggestion_id: "sg_2" });
  assert.equal(e.empty, true);
  assert.deepEqual(e.framings, []);
  assert.equal(renderModel(null).empty, true);
});

test("addresses and draft text", () => {
  assert.equal(bareAddress("Ann Example <Ann@Seller.Example>"),
    "ann@seller.example");
  assert.equal(bareAddress("bob@x.example"), "bob@x.example");
  assert.equal(bareAddress("not an address"), "");
  assert.equal(bareAddress(42), "");
  assert.equal(htmlToText("<p>Hi&nbsp;there</p><p>a &lt;b&gt; &amp; c</p>" +
    "<script>x()</script>"), "Hi there\na <b> & c");
  assert.equal(draftOwnText("Thanks!\n\n-- \nAnn\n"), "Thanks!");
  assert.equal(draftOwnText("Sure.\nOn Mon, 1 Jan 2024, Bob wrote:\n> hi"),
    "Sure.");
  assert.equal(draftOwnText("a\n> quoted\nb"), "a\nb");
});

test("suggest request from compose details and the replied-to message", () => {
  const details = {
    from: "Ann <ann@seller.example>",
    to: ["Bob <bob@buyer.example>", "junk"],
    cc: ["carol@buyer.example"],
    subject: "Re: Pricing",
    isPlainText: true,
    plainTextBody: "Happy to help with pricing\n\nOn Tue, Bob wrote:\n> how much?",
  };
  const related = { headerMessageId: "m1@buyer.example", subject: "Pricing",
    author: "Bob <bob@buyer.example>", date: "2026-03-03T10:00:00Z",
    text: "How much does it cost?" };
  const r = buildSuggestRequest(details, related, 7);
  assert.equal(r.id, 7);
  assert.equal(r.type, "suggest");
  assert.equal(r.draft, "Happy to help with pricing");
  assert.deepEqual(r.recipients, ["bob@buyer.example", "carol@buyer.example"]);
  assert.equal(r.rep_email, "ann@seller.example");
  assert.equal(r.thread.in_reply_to_message_id, "m1@buyer.example");
  assert.equal(r.thread.messages[0].from, "bob@buyer.example");
  assert.equal(r.thread.messages[0].sent_time_unix_ms, 1772532000000);
  // A new mail: no related message, the HTML body is used.
  const n = buildSuggestRequest({ subject: "Intro", body: "<p>Hello</p>",
    to: [] }, null, 8);
  assert.equal(n.draft, "Hello");
  assert.deepEqual(n.thread, { subject: "Intro", messages: [] });
  assert.equal(n.rep_email, undefined);
});

test("feedback requests", () => {
  const m = renderModel(RESPONSE);
  let id = 100;
  assert.deepEqual(feedbackRequest(m, "f0", "inserted", "ann@s.example", 1), {
    id: 1, type: "feedback", suggestion_id: "sg_1", item_id: "f0",
    kind: "inserted", rep_email: "ann@s.example" });
  assert.throws(() => feedbackRequest(m, "f0", "liked", "", 1), /unknown/);
  assert.throws(() => feedbackRequest(renderModel({}), "f0", "copied", "", 1),
    /no suggestion/);
  const shown = shownRequests(m, "", () => id++);
  assert.deepEqual(shown.map((r) => [r.id, r.item_id, r.kind]),
    [[100, "f0", "shown"], [101, "f1", "shown"], [102, "c0", "shown"]]);
  assert.equal(shown[0].rep_email, undefined);
});

test("a framing goes after the rep's text, before the quote", () => {
  const plain = insertFraming({ isPlainText: true,
    plainTextBody: "Hi Bob,\n\nOn Tue, Bob wrote:\n> how much?" }, "FRAME");
  assert.equal(plain.plainTextBody,
    "Hi Bob,\n\nFRAME\n\nOn Tue, Bob wrote:\n> how much?");
  const empty = insertFraming({ isPlainText: true, plainTextBody: "" }, "F");
  assert.equal(empty.plainTextBody, "F\n");
  const html = insertFraming({ isPlainText: false,
    body: "<html><body><p>Hi</p><div class=\"moz-cite-prefix\">On Tue</div>" +
      "<blockquote type=\"cite\">q</blockquote></body></html>" }, "A <b> & c");
  assert.equal(html.body, "<html><body><p>Hi</p><p>A &lt;b&gt; &amp; c</p>" +
    "<div class=\"moz-cite-prefix\">On Tue</div><blockquote type=\"cite\">q" +
    "</blockquote></body></html>");
  const bare = insertFraming({ body: "<p>x</p>" }, "y");
  assert.equal(bare.body, "<p>x</p><p>y</p>");
});

test("suggested content is matched to the thread's attachments", () => {
  const atts = [
    { name: "other.pdf", size: 10, partName: "1.2", messageId: 5 },
    { name: "Pricing.PDF", size: 99, partName: "1.3", messageId: 5 },
    { name: "pricing.pdf", size: 1234, partName: "1.4", messageId: 5 },
  ];
  assert.equal(findAttachment({ filename: "pricing.pdf", size_bytes: 1234 },
    atts).partName, "1.4");
  assert.equal(findAttachment({ filename: "pricing.pdf" }, atts).partName,
    "1.3");
  assert.equal(findAttachment({ filename: "none.pdf" }, atts), null);
  assert.equal(findAttachment(null, atts), null);
});

// A file as the host sends it: chunk frames' chunks of `size` bytes each,
// and the final reply's result.
function framesOf(bytes, size) {
  const chunks = [];
  for (let at = 0, seq = 0; at < bytes.length; at += size, seq++)
    chunks.push({ seq, offset: at, data: Buffer.from(bytes.subarray(at,
      at + size)).toString("base64") });
  const result = { content_id: "ct_1", filename: "deck.pdf",
    media_type: "application/pdf", size_bytes: bytes.length,
    sha256: createHash("sha256").update(bytes).digest("hex"),
    chunks: chunks.length };
  return { chunks, result };
}

function someBytes(n) {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + 3) & 0xff;
  return b;
}

test("a file in chunks is reassembled and checked", async () => {
  const bytes = someBytes(10000);
  const { chunks, result } = framesOf(bytes, 4096);
  assert.equal(chunks.length, 3);
  const asm = new ContentAssembler();
  chunks.forEach((c) => asm.add(c));
  assert.deepEqual(await asm.finish(result), bytes);
  assert.deepEqual(attachmentOf(result),
    { name: "deck.pdf", type: "application/pdf" });
  assert.deepEqual(attachmentOf({ content_id: "ct_2" }),
    { name: "ct_2", type: "application/octet-stream" });
  // An empty file has no chunk at all.
  const empty = framesOf(new Uint8Array(0), 4096);
  assert.deepEqual(await new ContentAssembler().finish(empty.result),
    new Uint8Array(0));
});

test("a damaged file is refused: order, a lost chunk, size, hash",
  async () => {
    const { chunks, result } = framesOf(someBytes(10000), 4096);
    const swapped = new ContentAssembler();
    swapped.add(chunks[0]);
    assert.throws(() => swapped.add(chunks[2]), /out of order/);
    const lost = new ContentAssembler();
    chunks.slice(0, 2).forEach((c) => lost.add(c));
    await assert.rejects(lost.finish(result), /incomplete/);
    const bad = new ContentAssembler();
    chunks.forEach((c) => bad.add(c));
    await assert.rejects(bad.finish(Object.assign({}, result,
      { sha256: "0".repeat(64) })), /SHA-256/);
    const big = new ContentAssembler();
    chunks.forEach((c) => big.add(c));
    await assert.rejects(big.finish(Object.assign({}, result,
      { size_bytes: 10001 })), /incomplete/);
    assert.throws(() => base64Bytes("not base64!"));
    assert.throws(() => base64Bytes(undefined), /base64/);
  });

test("read_content requests and the library's not-kept answer", () => {
  assert.deepEqual(readContentRequest("ct_1", 7),
    { id: 7, type: "read_content", content_id: "ct_1" });
  const e = new Error("no file");
  e.code = "FAILED_PRECONDITION";
  e.reason = "CONTENT_FILE_NOT_KEPT";
  e.detail = { content: { filename: "a.pdf", size_bytes: 10 } };
  assert.deepEqual(notKeptContent(e), { filename: "a.pdf", size_bytes: 10 });
  // Any other error is shown, not worked around.
  const nf = new Error("unknown");
  nf.code = "NOT_FOUND";
  assert.equal(notKeptContent(nf), null);
  assert.equal(notKeptContent(null), null);
});
