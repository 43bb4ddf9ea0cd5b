"""The stream worker: named stages (decode, enrich, index, detect, deliver) wired into one Faust app."""
