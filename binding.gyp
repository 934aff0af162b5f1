{
  "targets": [
    {
      "target_name": "condis",
      "sources": [
        "native/addon.cc",
        "native/device_wrap.cc",
        "native/device.cc",
        "native/io_loop.cc",
        "native/virtq.cc",
        "native/tap.cc",
        "native/uring.cc",
        "native/errors.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
      "cflags": ["-Wall", "-Wextra", "-fvisibility=hidden"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-missing-field-initializers", "-fvisibility=hidden", "-fvisibility-inlines-hidden", "-O2"],
      "ldflags": ["-pthread"],
      "conditions": [
        ["OS!='linux'", { "type": "none" }]
      ]
    }
  ]
}
