// Linked 3D cameras for Plotly figures: one implementation for the exported HTML page (figure_html) and the
// dashboard's scene view (pages/shared/scene_view_frontend).
//
// Plotly has no linked 3D cameras. A zoom fires plotly_relayout with {"sceneN.camera": camera}, and so does a
// drag, but only when the mouse is released over the scene it started in: a drag is followed by reading the live
// cameras on every mouse move with a button held (cheap: glplot cameras are set directly) and on every release
// anywhere in the page (then stored in every layout with Plotly.relayout). The camera that differs from the one
// last copied is copied to every other scene, in this plot and in the other linked plots (several figures side
// by side). Our own relayout fires plotly_relayout again with the camera just copied, which is ignored.
function sceneNames(gd) {
    return Object.keys(gd._fullLayout).filter(function (key) { return /^scene[0-9]*$/.test(key); });
}

// A camera as a comparable string: relayout echoes a camera with keys added (center, projection) and reordered.
function cameraKey(camera) {
    return ['eye', 'center', 'up'].map(function (part) {
        var v = camera[part] || {};
        return [v.x, v.y, v.z].map(function (c) { return (c === undefined && part === 'center' ? 0 : +c).toFixed(6); }).join(',');
    }).join(';');
}

function linkCameras(plots) {
    var lastCamera = null, dragged = null;  // the camera copied last; the live camera of a drag not yet stored
    function copy(camera, dragging) {
        lastCamera = cameraKey(camera);
        dragged = dragging ? camera : null;
        plots.forEach(function (gd) {
            var stored = {};
            sceneNames(gd).forEach(function (scene) {
                if (dragging) gd._fullLayout[scene]._scene.setCamera(camera);
                else stored[scene + '.camera'] = camera;
            });
            if (!dragging) Plotly.relayout(gd, stored);
        });
    }
    function fromEvent(update) {
        var key = Object.keys(update).filter(function (k) { return /^scene[0-9]*[.]camera$/.test(k); })[0];
        if (key !== undefined && cameraKey(update[key]) !== lastCamera) copy(update[key], false);
    }
    function fromLiveCameras(dragging) {
        for (var p = 0; p < plots.length; p++) {
            var scenes = sceneNames(plots[p]);
            for (var s = 0; s < scenes.length; s++) {
                var scene = plots[p]._fullLayout[scenes[s]]._scene;
                var camera = scene && scene.getCamera();
                if (camera && cameraKey(camera) !== lastCamera) { copy(camera, dragging); return; }
            }
        }
    }
    plots.forEach(function (gd) { gd.on('plotly_relayout', fromEvent); });
    window.addEventListener('mousemove', function (e) { if (e.buttons) fromLiveCameras(true); });
    window.addEventListener('mouseup', function () {
        setTimeout(function () { if (dragged) copy(dragged, false); else fromLiveCameras(false); }, 0);
    });
}
