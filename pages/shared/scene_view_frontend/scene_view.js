// The scene view: Plotly figures side by side with linked cameras (link_cameras.js), a reset button, and a
// vertex pinned by a click in every panel at once. Speaks Streamlit's component protocol by postMessage.
var BAR_HEIGHT = 36;  // the bar's; a chart (args.bar false) has none
var PIN = 'pinned-vertex';
var state = {chart: false, figures: null, plots: [], cameras: [], labels: [], vertexIds: [], pin: null, hovered: null, downAt: null};

function send(type, data) {
    window.parent.postMessage(Object.assign({isStreamlitMessage: true, type: type}, data || {}), '*');
}

function format(v) {
    if (v === undefined || v === null || !isFinite(v)) return 'n/a';
    var a = Math.abs(v);
    return (a === 0 || (a >= 1e-3 && a < 1e5)) ? String(+v.toPrecision(3)) : v.toExponential(2);
}

// The traces a pin reads: meshes and point scatters in a 3D scene (not the pin markers themselves).
function valueTraces(gd) {
    return gd._fullData.filter(function (t) {
        return t.scene && t.name !== PIN && (t.type === 'mesh3d' || t.type === 'scatter3d') && t.x && t.x.length;
    });
}

// The value a trace shows at vertex i: a mesh's intensity per vertex, or per triangle (a face that has the vertex).
function valueAt(trace, i) {
    if (trace.type === 'mesh3d' && trace.intensitymode === 'cell') {
        for (var f = 0; f < trace.i.length; f++) {
            if (trace.i[f] === i || trace.j[f] === i || trace.k[f] === i) return Number(trace.intensity[f]);
        }
        return null;
    }
    var values = trace.type === 'mesh3d' ? trace.intensity : (trace.marker && trace.marker.color);
    return values && values.length ? Number(values[i]) : null;
}

function nearest(trace, p) {
    var best = -1, bestD = Infinity;
    for (var i = 0; i < trace.x.length; i++) {
        var dx = trace.x[i] - p[0], dy = trace.y[i] - p[1], dz = trace.z[i] - p[2], d = dx * dx + dy * dy + dz * dz;
        if (d < bestD) { bestD = d; best = i; }
    }
    return best;
}

// Pin the vertex nearest `position` in every panel (the panels may be different meshes of the same surface):
// a marker and its value in each scene, every panel's value in the bar, and the pin sent back to Python.
function pin(position, source, notify) {
    state.pin = {position: position, source: source};
    var values = {}, vertex = null;
    state.plots.forEach(function (gd, p) {
        var old = gd._fullData.map(function (t, i) { return t.name === PIN ? i : -1; }).filter(function (i) { return i >= 0; });
        if (old.length) Plotly.deleteTraces(gd, old);
        var markers = valueTraces(gd).map(function (trace) {
            var i = nearest(trace, position), value = valueAt(trace, i);
            var label = state.labels[p][trace.scene] || trace.scene;
            values[label] = value;
            var id = state.vertexIds[p] ? state.vertexIds[p][i] : i;
            if (p === source.plot && trace.scene === source.scene) vertex = id;
            return {type: 'scatter3d', name: PIN, scene: trace.scene, x: [trace.x[i]], y: [trace.y[i]], z: [trace.z[i]],
                    mode: 'markers+text', text: [format(value)], textposition: 'top center', hoverinfo: 'skip',
                    showlegend: false, textfont: {size: 14, color: '#000'},
                    marker: {size: 6, color: '#fff', line: {color: '#000', width: 3}}};
        });
        if (markers.length) Plotly.addTraces(gd, markers);
    });
    var text = Object.keys(values).map(function (k) { return k + ' ' + format(values[k]); }).join(' · ');
    document.getElementById('pinned').textContent = 'vertex ' + vertex + ': ' + text;
    document.getElementById('unpin').hidden = false;
    if (notify) send('streamlit:setComponentValue', {value: {vertex: vertex, values: values}, dataType: 'json'});
}

function unpin() {
    state.pin = null;
    state.plots.forEach(function (gd) {
        var old = gd._fullData.map(function (t, i) { return t.name === PIN ? i : -1; }).filter(function (i) { return i >= 0; });
        if (old.length) Plotly.deleteTraces(gd, old);
    });
    document.getElementById('pinned').textContent = 'Click a vertex to pin it in every panel.';
    document.getElementById('unpin').hidden = true;
    send('streamlit:setComponentValue', {value: null, dataType: 'json'});
}

// A click is a press and release without moving, over a vertex plotly reported on hover. (plotly_click in 3D
// is fired from the render loop only if a frame is drawn while the button is down: slow renderers miss it.)
window.addEventListener('mousedown', function (e) { state.downAt = [e.clientX, e.clientY]; });
window.addEventListener('mouseup', function (e) {
    var down = state.downAt;
    state.downAt = null;
    if (down && Math.abs(e.clientX - down[0]) + Math.abs(e.clientY - down[1]) < 4 && state.hovered) {
        onClick(state.hovered.plot, state.hovered.event);
    }
});

function onClick(p, event) {
    var point = event.points && event.points[0];
    if (point && state.chart) {  // a chart reports the point clicked (with the time: a click again on it is new)
        send('streamlit:setComponentValue', {value: {trace: point.curveNumber, point: point.pointIndex, at: Date.now()},
                                             dataType: 'json'});
        return;
    }
    var scene = point && point.fullData.scene;  // a figure's only scene is often not named in its traces' data
    if (!point || point.fullData.name === PIN || !scene) return;
    pin([point.x, point.y, point.z], {plot: p, scene: scene}, true);
}

// Each scene's camera as the figure draws it, for "Reset view" (the plots' own layouts follow the drags).
function startCameras(fig) {
    var cameras = {};
    Object.keys(fig.layout).filter(function (key) { return /^scene[0-9]*$/.test(key); }).forEach(function (scene) {
        cameras[scene + '.camera'] = fig.layout[scene].camera || {};
    });
    return cameras;
}

// Plotly's JSON typed arrays ({dtype, bdata, shape}) decoded here, so panels that share a mesh share its arrays.
var TYPED = {f4: Float32Array, f8: Float64Array, i1: Int8Array, u1: Uint8Array, i2: Int16Array, u2: Uint16Array,
             i4: Int32Array, u4: Uint32Array};
function decoded(value) {
    if (!value || typeof value.bdata !== 'string' || !TYPED[value.dtype] || value.shape) return value;
    var text = atob(value.bdata), bytes = new Uint8Array(text.length);
    for (var i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    return new TYPED[value.dtype](bytes.buffer);
}

// Undo scene_view.py's packing: a geometry array sent once for every panel of its mesh ({same_as: [figure, trace,
// key]}), and hover rows rebuilt from a panel's values and the vertex ids ({from_intensity: true}).
function unpacked(figures, vertexIds) {
    var GEOMETRY = ['x', 'y', 'z', 'i', 'j', 'k'];
    figures.forEach(function (fig) {
        fig.data.forEach(function (trace) {
            GEOMETRY.forEach(function (key) { if (trace[key] && !trace[key].same_as) trace[key] = decoded(trace[key]); });
        });
    });
    figures.forEach(function (fig, f) {
        fig.data.forEach(function (trace) {
            GEOMETRY.forEach(function (key) {
                var ref = trace[key] && trace[key].same_as;
                if (ref) trace[key] = figures[ref[0]].data[ref[1]][ref[2]];
            });
            if (trace.customdata && trace.customdata.from_intensity) {
                var values = decoded(trace.intensity), ids = vertexIds[f], rows = new Array(values.length);
                for (var i = 0; i < values.length; i++) rows[i] = [values[i], ids ? ids[i] : i];
                trace.intensity = values;
                trace.customdata = rows;
            }
        });
    });
    return figures;
}

function draw(args) {
    delete document.body.dataset.height;  // set again once drawn, linked and sized: what a browser test waits for
    var figures = unpacked(args.figures.map(function (f) { return JSON.parse(f); }), args.vertex_ids || []);
    var container = document.getElementById('plots');
    var fresh = state.plots.length !== figures.length;
    if (fresh) {
        container.innerHTML = '';
        state.plots = figures.map(function () { var div = document.createElement('div'); container.appendChild(div); return div; });
    }
    state.labels = args.labels;
    state.vertexIds = args.vertex_ids || figures.map(function () { return null; });
    var config = {displaylogo: false};  // not `responsive`: see fitWidths
    var drawn = figures.map(function (fig, p) {
        var gd = state.plots[p];
        return (fresh ? Plotly.newPlot : Plotly.react)(gd, {data: fig.data, layout: fig.layout, frames: fig.frames, config: config});
    });
    return Promise.all(drawn).then(function () {
        if (fresh) {
            linkCameras(state.plots);
            state.plots.forEach(function (gd, p) {
                gd.on('plotly_hover', function (event) { state.hovered = {plot: p, event: event}; });
                gd.on('plotly_unhover', function () { state.hovered = null; });
                gd.on('plotly_animated', function () { if (state.pin) pin(state.pin.position, state.pin.source, false); });
            });
        }
        state.cameras = figures.map(startCameras);
        if (state.pin) pin(state.pin.position, state.pin.source, false);
        var bar = args.bar === false ? 0 : BAR_HEIGHT;
        var height = Math.max.apply(null, state.plots.map(function (gd) { return gd._fullLayout.height; })) + bar;
        send('streamlit:setFrameHeight', {height: height});
        document.body.dataset.height = height;
    });
}

// Plotly's `responsive` lays every plot out again on every window resize, and the frame's own height change
// (setFrameHeight) is one, each time the view is drawn. The heights are the figures' own: only a new width counts.
var widthTimer = null;
function fitWidths() {
    state.plots.forEach(function (gd) {
        if (gd._fullLayout && gd.clientWidth && gd.clientWidth !== gd._fullLayout.width) Plotly.relayout(gd, {width: gd.clientWidth});
    });
}
window.addEventListener('resize', function () { clearTimeout(widthTimer); widthTimer = setTimeout(fitWidths, 100); });

window.addEventListener('message', function (event) {
    if (!event.data || event.data.type !== 'streamlit:render') return;
    var args = event.data.args;
    var signature = args.figures.join('\u0000');
    if (signature === state.figures) return;  // a rerun with the same figures: keep cameras and pin as they are
    state.figures = signature;
    state.chart = args.bar === false;
    document.getElementById('bar').hidden = state.chart;
    draw(args);
});
document.getElementById('reset').onclick = function () {
    state.plots.forEach(function (gd, p) { Plotly.relayout(gd, state.cameras[p]); });
};
document.getElementById('unpin').onclick = unpin;
send('streamlit:componentReady', {apiVersion: 1});
