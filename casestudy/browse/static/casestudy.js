/* casestudy: small helpers on Datasette's pages (no dependencies).
   - technical columns hidden until "Show technical columns" is clicked;
   - the words of a table search (?_search=) highlighted in the text;
   - each cell labelled with its column, so a row page reads as a list. */
(function () {
  const cfg = window.CASESTUDY || {};
  const table = document.querySelector("table.rows-and-columns");
  if (!table) return;
  const headers = Array.from(table.querySelectorAll("thead th")).map((th) => th.dataset.column || th.textContent.trim());
  table.querySelectorAll("tbody tr").forEach((tr) => {
    Array.from(tr.children).forEach((td, i) => { if (headers[i]) td.dataset.label = headers[i].replace(/_/g, " "); });
  });
  const tech = (cfg.technical || []).filter((c) => headers.includes(c));
  if (tech.length) {
    const style = document.createElement("style");
    style.textContent = tech.map((c) => `table.cs-hide-tech .col-${c}`).join(", ") + " { display: none; }";
    document.head.appendChild(style);
    table.classList.add("cs-hide-tech");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "cs-tech-toggle";
    const label = () => (table.classList.contains("cs-hide-tech") ? "Show" : "Hide") +
      ` technical columns (${tech.length}: ${tech.join(", ")})`;
    button.textContent = label();
    button.addEventListener("click", () => { table.classList.toggle("cs-hide-tech"); button.textContent = label(); });
    const wrapper = table.closest(".table-wrapper") || table;
    wrapper.parentNode.insertBefore(button, wrapper);
  }
  const query = new URLSearchParams(location.search).get("_search");
  if (query) {
    const terms = [];
    query.replace(/"([^"]+)"(\*?)|(\S+)/g, (m, phrase, star, word) => {
      const text = (phrase || word || "").replace(/["*]+$/g, "").replace(/"/g, "");
      const prefix = star === "*" || (word || "").endsWith("*");
      if (text) terms.push(text.trim().split(/\s+/).map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("\\W+") + (prefix ? "\\w*" : ""));
    });
    if (terms.length) {
      const pattern = new RegExp(`\\b(?:${terms.join("|")})\\b`, "giu");
      table.querySelectorAll("td.col-text, td.col-source_title").forEach((td) => {
        const walker = document.createTreeWalker(td, NodeFilter.SHOW_TEXT);
        const nodes = [];
        while (walker.nextNode()) nodes.push(walker.currentNode);
        nodes.forEach((node) => {
          const text = node.nodeValue;
          pattern.lastIndex = 0;
          if (!pattern.test(text)) return;
          pattern.lastIndex = 0;
          const frag = document.createDocumentFragment();
          let last = 0;
          text.replace(pattern, (m, offset) => {
            frag.appendChild(document.createTextNode(text.slice(last, offset)));
            const mark = document.createElement("mark");
            mark.className = "cs-hit";
            mark.textContent = m;
            frag.appendChild(mark);
            last = offset + m.length;
          });
          frag.appendChild(document.createTextNode(text.slice(last)));
          node.parentNode.replaceChild(frag, node);
        });
      });
    }
  }
})();
