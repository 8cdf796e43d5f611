// The plotly.js that dropviz's pages load: the core (which holds scatter) and the other two trace
// types our figures draw. tests/test_vendored_plotly.py checks that this list covers the figure code.
var Plotly = require('plotly.js/lib/core');

Plotly.register([require('plotly.js/lib/bar'), require('plotly.js/lib/heatmap')]);

module.exports = Plotly;
