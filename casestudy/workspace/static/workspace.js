/* The coding workspace's document view: decisions by mouse and keyboard, type-ahead codes,
   span coding from a selection, memos and undo. Every action is one POST (with the CSRF token);
   the server answers with the excerpt re-rendered, which replaces the old one in place. */
(function () {
  "use strict";
  const token = document.querySelector('meta[name="csrftoken"]').content;
  const doc = document.getElementById("doc");
  if (!doc) return;
  const sourceId = doc.dataset.source;
  const codes = JSON.parse(document.getElementById("codebook").textContent);
  const themes = codes.filter((c) => c.codable);
  const status = document.getElementById("status");
  let current = null; // the focused excerpt (article)
  let chip = 0; // the chosen suggestion in it
  let pendingSpan = null; // {excerpt, start, end, text}
  let pickerFor = null;

  function say(text, bad) {
    status.textContent = text;
    status.className = bad ? "ws-bad" : "ws-ok";
  }

  async function post(path, data) {
    let response;
    try {
      response = await fetch(path, {
        method: "POST",
        headers: { "content-type": "application/json", "x-csrftoken": token },
        body: JSON.stringify(data),
        credentials: "same-origin",
      });
    } catch (e) {
      say("Not saved: the workspace server cannot be reached.", true);
      return null;
    }
    let body = {};
    try { body = await response.json(); } catch (e) { body = { error: "unexpected answer (" + response.status + ")" }; }
    if (!response.ok) {
      say("Not saved: " + (body.error || response.status), true);
      return null;
    }
    if (body.html) replace(body.excerpt_id, body.html);
    return body;
  }

  function replace(id, html) {
    const old = document.getElementById("e" + id);
    if (!old) return;
    const box = document.createElement("div");
    box.innerHTML = html.trim();
    const fresh = box.firstElementChild;
    old.replaceWith(fresh);
    if (current === old) focus(fresh, false);
  }

  function excerpts(onlyPending) {
    return Array.from(doc.querySelectorAll('article.ws-excerpt[data-codable="1"]')).filter(
      (a) => !onlyPending || a.classList.contains("ws-pending"));
  }

  function focus(article, scroll) {
    if (current) current.classList.remove("ws-current");
    current = article;
    if (!article) return;
    article.classList.add("ws-current");
    const chips = article.querySelectorAll(".ws-suggested");
    if (chip >= chips.length) chip = 0;
    article.querySelectorAll(".ws-chip").forEach((c) => c.classList.remove("ws-chosen"));
    if (chips[chip]) chips[chip].classList.add("ws-chosen");
    if (scroll !== false) article.scrollIntoView({ block: "center" });
    history.replaceState(null, "", "#e" + article.dataset.id);
  }

  function move(step, onlyPending) {
    const list = excerpts(false);
    if (!list.length) return;
    let index = current ? list.indexOf(current) : -1;
    for (let i = 0; i < list.length; i++) {
      index += step;
      if (index < 0 || index >= list.length) break;
      if (!onlyPending || list[index].classList.contains("ws-pending")) {
        chip = 0;
        focus(list[index]);
        return;
      }
    }
    say(onlyPending ? "Nothing else waiting for you in this direction." : "No more excerpts.");
  }

  function chosenChip() {
    if (!current) return null;
    return current.querySelectorAll(".ws-suggested")[chip] || null;
  }

  async function decide(codingId, decision) {
    const body = await post("/api/decide", { coding_id: Number(codingId), decision: decision });
    if (body) say((decision === "accept" ? "Accepted" : "Rejected") + " — u to undo.");
  }

  // -- the type-ahead over the codebook ----------------------------------------------
  const picker = document.getElementById("picker");
  const pickerInput = document.getElementById("picker-input");
  const pickerList = document.getElementById("picker-list");
  const pickerDetail = document.getElementById("picker-detail");
  let matches = [];
  let active = 0;

  function openPicker(article) {
    pickerFor = article;
    const span = pendingSpan && pendingSpan.excerpt === article.dataset.id ? pendingSpan : null;
    document.getElementById("picker-target").textContent = span
      ? "Code the selected words: “" + span.text + "”"
      : "Code the whole excerpt";
    picker.hidden = false;
    pickerInput.value = "";
    filterCodes();
    pickerInput.focus();
  }

  function closePicker() {
    picker.hidden = true;
    pickerFor = null;
  }

  function filterCodes() {
    const words = pickerInput.value.toLowerCase().split(/\s+/).filter(Boolean);
    matches = themes.filter((c) => {
      const hay = (c.id + " " + c.name + " " + c.rq + " " + (c.rq_name || "") + " " + (c.description || "")).toLowerCase();
      return words.every((w) => hay.includes(w));
    });
    const inName = (c) => words.every((w) => (c.name + " " + c.id).toLowerCase().includes(w)) ? 0 : 1;
    matches = matches.map((c, i) => [inName(c), i, c]).sort((x, y) => x[0] - y[0] || x[1] - y[1]).map((x) => x[2]).slice(0, 30);
    active = 0;
    pickerList.innerHTML = "";
    matches.forEach((c, i) => {
      const li = document.createElement("li");
      li.setAttribute("role", "option");
      li.dataset.code = c.id;
      li.style.setProperty("--c", c.colour || "#ccc");
      li.innerHTML = '<span class="ws-swatch"></span><span class="ws-rq"></span> <span class="ws-rqname"></span> → <b></b>';
      li.querySelector(".ws-rq").textContent = c.rq;
      li.querySelector(".ws-rqname").textContent = (c.rq_name || "").replace(/^RQ\d\s*/, "");
      li.querySelector("b").textContent = c.name;
      li.addEventListener("mousedown", (e) => { e.preventDefault(); choose(i); });
      li.addEventListener("mouseenter", () => { active = i; showActive(); });
      pickerList.appendChild(li);
    });
    showActive();
  }

  function showActive() {
    Array.from(pickerList.children).forEach((li, i) => li.classList.toggle("ws-active", i === active));
    const c = matches[active];
    if (!c) { pickerDetail.innerHTML = "<p>No theme matches.</p>"; return; }
    pickerDetail.innerHTML = "<h3></h3><p class='ws-def'></p><p><b>Include:</b> <span class='inc'></span></p><p><b>Exclude:</b> <span class='exc'></span></p>";
    pickerDetail.querySelector("h3").textContent = c.rq + " → " + c.name;
    pickerDetail.querySelector(".ws-def").textContent = c.description || "";
    pickerDetail.querySelector(".inc").textContent = c.inclusion || "—";
    pickerDetail.querySelector(".exc").textContent = c.exclusion || "—";
    const li = pickerList.children[active];
    if (li) li.scrollIntoView({ block: "nearest" });
  }

  async function choose(i) {
    const c = matches[i];
    if (!c || !pickerFor) return;
    const article = pickerFor;
    const data = { excerpt_id: Number(article.dataset.id), code_id: c.id };
    if (pendingSpan && pendingSpan.excerpt === article.dataset.id) {
      data.start = pendingSpan.start;
      data.end = pendingSpan.end;
    }
    closePicker();
    focus(article, false);
    const body = await post("/api/add", data);
    pendingSpan = null;
    hideSelectionButton();
    if (body) say("Coded " + c.name + (data.start !== undefined ? " (selected words)" : "") + " — " + body.what + ". u to undo.");
  }

  pickerInput.addEventListener("input", filterCodes);
  pickerInput.addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown") { active = Math.min(active + 1, matches.length - 1); showActive(); e.preventDefault(); }
    else if (e.key === "ArrowUp") { active = Math.max(active - 1, 0); showActive(); e.preventDefault(); }
    else if (e.key === "Enter") { choose(active); e.preventDefault(); }
    else if (e.key === "Escape") { closePicker(); e.preventDefault(); }
    e.stopPropagation();
  });

  // -- selecting words to code a span ----------------------------------------------------
  const selectionButton = document.getElementById("code-selection");

  function hideSelectionButton() { selectionButton.hidden = true; }

  function readSelection() {
    const sel = window.getSelection();
    if (!sel || sel.isCollapsed || !sel.rangeCount) { pendingSpan = null; hideSelectionButton(); return; }
    const range = sel.getRangeAt(0);
    const textBox = range.startContainer.parentElement && range.startContainer.parentElement.closest(".ws-text");
    const endBox = range.endContainer.parentElement && range.endContainer.parentElement.closest(".ws-text");
    if (!textBox || textBox !== endBox) { pendingSpan = null; hideSelectionButton(); return; }
    const article = textBox.closest("article");
    if (article.dataset.codable !== "1") return;
    const before = document.createRange();
    before.setStart(textBox, 0);
    before.setEnd(range.startContainer, range.startOffset);
    const start = before.toString().length;
    const text = range.toString();
    if (!text.trim()) return;
    pendingSpan = { excerpt: article.dataset.id, start: start, end: start + text.length, text: text };
    focus(article, false);
    const rect = range.getBoundingClientRect();
    selectionButton.style.top = window.scrollY + rect.bottom + 6 + "px";
    selectionButton.style.left = window.scrollX + rect.left + "px";
    selectionButton.hidden = false;
  }

  doc.addEventListener("mouseup", () => setTimeout(readSelection, 0));
  document.addEventListener("selectionchange", () => {
    const sel = window.getSelection();
    if (sel && sel.isCollapsed && !picker.hidden) return;
  });
  selectionButton.addEventListener("mousedown", (e) => e.preventDefault());
  selectionButton.addEventListener("click", () => {
    const article = document.getElementById("e" + pendingSpan.excerpt);
    if (article) openPicker(article);
  });

  // -- memos ---------------------------------------------------------------------------------
  const memoBox = document.getElementById("memo-box");
  const memoAbout = document.getElementById("memo-about");
  const memoText = document.getElementById("memo-text");

  function openMemo(article) {
    memoAbout.innerHTML = "";
    const add = (value, label) => { const o = document.createElement("option"); o.value = value; o.textContent = label; memoAbout.appendChild(o); };
    if (article) {
      add("excerpt", "this excerpt");
      article.querySelectorAll(".ws-chip[data-code]").forEach((c) => {
        const name = c.dataset.code;
        add("excerpt-code:" + name, "the code " + name + " on this excerpt");
        add("code:" + name, "the code " + name + " (everywhere)");
      });
    }
    add("source", "this whole source");
    memoBox.dataset.excerpt = article ? article.dataset.id : "";
    document.getElementById("memo-target").textContent = article ? "Memo on excerpt " + article.dataset.id : "Memo on this source";
    memoBox.hidden = false;
    memoText.value = "";
    memoText.focus();
  }

  async function saveMemo() {
    const about = memoAbout.value;
    const data = { text: memoText.value };
    const excerpt = memoBox.dataset.excerpt;
    if (about === "excerpt") data.excerpt_id = Number(excerpt);
    else if (about.startsWith("excerpt-code:")) { data.excerpt_id = Number(excerpt); data.code_id = about.slice(13); }
    else if (about.startsWith("code:")) data.code_id = about.slice(5);
    else data.source_id = Number(sourceId);
    const body = await post("/api/memo", data);
    if (body) { memoBox.hidden = true; say("Memo saved."); }
  }

  document.getElementById("memo-save").addEventListener("click", saveMemo);
  document.getElementById("memo-cancel").addEventListener("click", () => { memoBox.hidden = true; });
  memoText.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { saveMemo(); e.preventDefault(); }
    if (e.key === "Escape") { memoBox.hidden = true; }
    e.stopPropagation();
  });
  memoAbout.addEventListener("keydown", (e) => e.stopPropagation());

  // -- undo, finish -----------------------------------------------------------------------------
  async function undo() {
    const body = await post("/api/undo", {});
    if (body) {
      say("Undid your last decision (" + body.undone + " " + body.code_id + ").");
      const article = document.getElementById("e" + body.excerpt_id);
      if (article) focus(article);
    }
  }

  async function why(article) {
    const open = article.querySelector(".ws-whybox");
    if (open) { open.remove(); return; }
    let body = {};
    try {
      const response = await fetch("/api/why/" + article.dataset.id, { credentials: "same-origin" });
      body = await response.json();
      if (!response.ok) { say("No answer: " + (body.error || response.status), true); return; }
    } catch (e) {
      say("No answer: the workspace server cannot be reached.", true);
      return;
    }
    const box = document.createElement("div");
    box.innerHTML = body.why_html.trim();
    article.querySelector(".ws-tools").after(box.firstElementChild);
  }

  async function finish(article, done) {
    const body = await post("/api/finish", { excerpt_id: Number(article.dataset.id), done: done });
    if (body) say(done ? "Finished." : "Reopened.");
  }

  // -- mouse ------------------------------------------------------------------------------------
  doc.addEventListener("click", (e) => {
    const article = e.target.closest("article.ws-excerpt");
    if (article && article !== current && article.dataset.codable === "1") focus(article, false);
    const button = e.target.closest("button[data-act]");
    if (!button || !article) return;
    const act = button.dataset.act;
    const chipEl = button.closest(".ws-chip");
    if (act === "accept" || act === "reject") decide(chipEl.dataset.coding, act);
    else if (act === "remove") post("/api/remove", { coding_id: Number(chipEl.dataset.coding) }).then((b) => b && say("Removed — u to undo."));
    else if (act === "add") openPicker(article);
    else if (act === "memo") openMemo(article);
    else if (act === "why") why(article);
    else if (act === "finish") finish(article, button.dataset.done === "1");
  });
  document.getElementById("next-unreviewed").addEventListener("click", () => move(1, true));
  document.getElementById("prev-unreviewed").addEventListener("click", () => move(-1, true));
  document.getElementById("undo").addEventListener("click", undo);
  document.getElementById("source-memo").addEventListener("click", () => openMemo(null));
  document.getElementById("help-toggle").addEventListener("click", () => {
    const help = document.getElementById("help"); help.hidden = !help.hidden;
  });

  // -- keyboard ---------------------------------------------------------------------------------
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const typing = e.target.closest && e.target.closest("input, textarea, select");
    if (typing) return;
    const key = e.key;
    if (key === "Escape") { closePicker(); memoBox.hidden = true; return; }
    if (key === "n") move(1, true);
    else if (key === "p") move(-1, true);
    else if (key === "j" || key === "ArrowDown" && e.shiftKey) move(1, false);
    else if (key === "k" || key === "ArrowUp" && e.shiftKey) move(-1, false);
    else if (key === "ArrowRight" && current) { chip += 1; focus(current, false); }
    else if (key === "ArrowLeft" && current) { chip = Math.max(0, chip - 1); focus(current, false); }
    else if (key === "a" || key === "r") {
      const c = chosenChip();
      if (c) decide(c.dataset.coding, key === "a" ? "accept" : "reject");
      else say("No suggestion here: n for the next excerpt waiting for you.");
    }
    else if (key === "c" && current) openPicker(current);
    else if (key === "m") openMemo(current);
    else if (key === "w" && current) why(current);
    else if (key === "u") undo();
    else if (key === "d" && current) {
      const b = current.querySelector('button[data-act="finish"]');
      if (b) finish(current, b.dataset.done === "1");
    }
    else if (key === "?") document.getElementById("help-toggle").click();
    else return;
    e.preventDefault();
  });

  // start where the address says, or at the first excerpt waiting
  const target = location.hash && document.querySelector(location.hash.replace(/[^#\w-]/g, ""));
  if (target && target.matches("article")) focus(target);
  else if (excerpts(true).length) focus(excerpts(true)[0], false);
})();
