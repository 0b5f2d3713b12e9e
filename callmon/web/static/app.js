// callmon review pages: evidence playback and highlighting (no build step, no framework).
"use strict";

function seek(audio, start) {
  const go = () => {
    audio.currentTime = start;
    const played = audio.play();
    if (played && played.catch) played.catch(() => {});  // autoplay may be refused; the position is set
  };
  if (audio.readyState >= 1) go();
  else { audio.addEventListener("loadedmetadata", go, { once: true }); audio.load(); }
}

function highlight(index, matched) {
  document.querySelectorAll(".utt.current").forEach((el) => el.classList.remove("current"));
  document.querySelectorAll("mark.evidence-mark").forEach((m) => m.replaceWith(document.createTextNode(m.textContent)));
  const utt = document.getElementById("u-" + index);
  if (!utt) return;
  utt.classList.add("current");
  const span = utt.querySelector(".text");
  span.normalize();
  const text = span.textContent;
  const at = matched ? text.indexOf(matched) : -1;
  if (at >= 0) {
    const mark = document.createElement("mark");
    mark.className = "evidence-mark";
    mark.textContent = matched;
    span.textContent = "";
    span.append(text.slice(0, at), mark, text.slice(at + matched.length));
  }
  utt.scrollIntoView({ block: "nearest" });
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button.evidence");
  if (button) {
    const audio = document.getElementById("audio-" + button.dataset.channel);
    if (audio) seek(audio, parseFloat(button.dataset.start));
    highlight(button.dataset.utterance, button.dataset.matched);
    return;
  }
  const pick = event.target.closest("button.dispute-pick");
  if (pick) {
    const select = document.getElementById("dispute-item");
    if (select) { select.value = pick.dataset.item; document.getElementById("dispute-reason").focus(); }
  }
});
