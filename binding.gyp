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
        "native/tap_rx.cc",
        "native/uring.cc",
        "native/errors.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      # NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS: a native call made while a worker is being
      # terminated fails (napi_pending_exception), and node-addon-api, unable to throw that as JS,
      # would otherwise end the whole process (issue 9; node-addon-api PR 975).
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED", "NAPI_CPP_EXCEPTIONS",
                  "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
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
