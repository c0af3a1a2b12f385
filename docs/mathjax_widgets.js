// Inlined by Sphinx before MathJax on every page with math (conf.py: mathjax_config_path).
// The ipywidgets 8 widget manager typesets widget descriptions with MathJax 2's API,
// MathJax.Hub.Queue(["Typeset", MathJax.Hub, element]), whenever window.MathJax exists; the site
// runs MathJax 3, which has no Hub, so every drawn widget threw. Answer those calls with MathJax 3's
// typesetPromise, holding the elements until MathJax has started.
(() => {
  const pending = [];
  let started = false;
  const typeset = () => {
    if (started && pending.length) {
      window.MathJax.typesetPromise(pending.splice(0)).catch((error) => console.error(error));
    }
  };
  const hub = {
    Queue(...jobs) {
      for (const job of jobs) {
        if (Array.isArray(job) && job[0] === "Typeset" && job[2]) pending.push(job[2]);
      }
      typeset();
    },
  };
  window.MathJax = window.MathJax || {};
  window.MathJax.Hub = hub; // while window.MathJax is still MathJax's configuration
  window.MathJax.startup = {
    ready() {
      window.MathJax.startup.defaultReady();
      window.MathJax.Hub = hub;
      started = true;
      typeset();
    },
  };
})();
