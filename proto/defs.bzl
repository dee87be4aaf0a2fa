"""dyn_proto_c_library: protobuf-c code generated offline by Debian's protoc-c."""

def dyn_proto_c_library(name, srcs, deps = [], visibility = None):
    """Generates <src>.pb-c.c/.h for each .proto in srcs and wraps them as one cc_library.

    Imports resolve from the workspace root, so a file imports another as
    "proto/dyne/v1/x.proto" and generated headers are included the same way.
    """
    outs_c = [s.replace(".proto", ".pb-c.c") for s in srcs]
    outs_h = [s.replace(".proto", ".pb-c.h") for s in srcs]
    native.genrule(
        name = name + "_gen",
        srcs = srcs + [d + "_srcs" for d in deps],
        outs = outs_c + outs_h,
        cmd = " ".join([
            "protoc-c",
            "--proto_path=.",
            "--c_out=$(GENDIR)",
        ] + ["$(location %s)" % s for s in srcs]),
    )
    native.filegroup(name = name + "_srcs", srcs = srcs, visibility = ["//visibility:public"])
    native.cc_library(
        name = name,
        srcs = outs_c,
        hdrs = outs_h,
        copts = ["-Wno-unused-parameter"],
        deps = deps + ["//third_party/sys:protobuf_c"],
        visibility = visibility or ["//visibility:public"],
    )
