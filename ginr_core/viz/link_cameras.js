// Linked 3D cameras for Plotly figures: one implementation for the exported HTML page (figure_html) and the
// dashboard's scene view (pages/shared/scene_view_frontend).
//
// Plotly has no linked 3D cameras. A zoom fires plotly_relayout with {"sceneN.camera": camera}, and so does a
// drag, but only when the mouse is released over the scene it started in. So a drag is followed from the scene the
// button went down in: on every mouse move its live camera is set in every other scene (cheap: glplot cameras are
// set directly), and on the release, anywhere in the page, it is stored in every layout with Plotly.relayout. Only
// that scene is read: the others may read back another camera than the one set (turned to a pole, eye along up,
// they keep their last one), which copied back would undo the drag. Our own relayout fires plotly_relayout again
// with the camera just copied, which is ignored.
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
    var lastCamera = null, dragging = null;  // the camera copied last; the scene a held button is turning
    function copy(camera, live) {  // live: set in every scene but that one, for now; else stored in every layout
        lastCamera = cameraKey(camera);
        plots.forEach(function (gd) {
            var stored = {};
            sceneNames(gd).forEach(function (scene) {
                if (!live) stored[scene + '.camera'] = camera;
                else if (gd._fullLayout[scene]._scene !== live) gd._fullLayout[scene]._scene.setCamera(camera);
            });
            if (!live) Plotly.relayout(gd, stored);
        });
    }
    function sceneAt(target) {
        for (var p = 0; p < plots.length; p++) {
            var scenes = sceneNames(plots[p]);
            for (var s = 0; s < scenes.length; s++) {
                var scene = plots[p]._fullLayout[scenes[s]]._scene;
                if (scene && scene.container && scene.container.contains(target)) return scene;
            }
        }
        return null;
    }
    plots.forEach(function (gd) {
        gd.on('plotly_relayout', function (update) {
            var key = Object.keys(update).filter(function (k) { return /^scene[0-9]*[.]camera$/.test(k); })[0];
            if (key !== undefined && cameraKey(update[key]) !== lastCamera) copy(update[key], null);
        });
    });
    window.addEventListener('mousedown', function (e) { dragging = sceneAt(e.target); }, true);
    window.addEventListener('mousemove', function (e) {
        if (!e.buttons || !dragging) return;
        var camera = dragging.getCamera();
        if (cameraKey(camera) !== lastCamera) copy(camera, dragging);
    });
    window.addEventListener('mouseup', function () {
        var released = dragging;
        dragging = null;
        if (released) setTimeout(function () { copy(released.getCamera(), null); }, 0);
    });
}
