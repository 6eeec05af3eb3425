"""Baseline: Blender's compositor Defocus node, run headless on the same inputs.

Run *inside* Blender (Debian `blender`, 3.4 here):

    blender -b --factory-startup --python benchmarks/render_blender.py -- JOBS.json

JOBS.json is a list of {"image": AIF.exr, "radius": R.exr, "out": OUT.exr, "width", "height",
"bokeh": CIRCLE|HEXAGON|..., "angle_deg", "z_scale", "blur_max"}. The Defocus node runs with
"Use Z-Buffer" off, so its Z input is taken as a blur radius map scaled by `z_scale`
(radius = min(Z · z_scale, blur_max)); the calling benchmark writes R = K·|d − a| and calibrates
`z_scale` with a point light (see render_quality.py / render_speed.py). Each job's render time
(bpy.ops.render.render only, not Blender's start-up) is printed as a JSON line `BLENDER_TIME`.
"""
import json
import sys
import time

import bpy  # noqa: F401  (only inside Blender)


def _load(path, non_color):
    img = bpy.data.images.load(path, check_existing=False)
    img.colorspace_settings.name = "Non-Color" if non_color else "Linear"
    return img


def run(jobs):
    scene = bpy.context.scene
    scene.use_nodes = True
    scene.view_settings.view_transform = "Standard"
    scene.render.image_settings.file_format = "OPEN_EXR"
    scene.render.image_settings.color_depth = "32"
    scene.render.image_settings.color_mode = "RGB"
    scene.render.resolution_percentage = 100
    scene.render.use_compositing = True
    scene.render.use_sequencer = False
    tree = scene.node_tree
    for job in jobs:
        for n in list(tree.nodes):
            tree.nodes.remove(n)
        scene.render.resolution_x = int(job["width"])
        scene.render.resolution_y = int(job["height"])
        img = tree.nodes.new("CompositorNodeImage")
        img.image = _load(job["image"], False)
        rad = tree.nodes.new("CompositorNodeImage")
        rad.image = _load(job["radius"], True)
        dof = tree.nodes.new("CompositorNodeDefocus")
        dof.bokeh = job.get("bokeh", "CIRCLE")
        dof.angle = job.get("angle_deg", 0.0) * 3.141592653589793 / 180.0
        dof.use_zbuffer = False
        dof.z_scale = float(job.get("z_scale", 1.0))
        dof.blur_max = float(job.get("blur_max", 64.0))
        dof.threshold = 0.0
        dof.use_preview = False
        dof.use_gamma_correction = False
        comp = tree.nodes.new("CompositorNodeComposite")
        tree.links.new(img.outputs["Image"], dof.inputs["Image"])
        tree.links.new(rad.outputs["Image"], dof.inputs["Z"])
        tree.links.new(dof.outputs["Image"], comp.inputs["Image"])
        scene.render.filepath = job["out"]
        t0 = time.perf_counter()
        bpy.ops.render.render(write_still=True)
        dt = time.perf_counter() - t0
        print("BLENDER_TIME " + json.dumps({"out": job["out"], "seconds": dt}), flush=True)
        bpy.data.images.remove(img.image)
        bpy.data.images.remove(rad.image)


if __name__ == "__main__":
    argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
    with open(argv[0]) as f:
        run(json.load(f))
