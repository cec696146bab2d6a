-- Skew protection settings per project (issue 30, README "Skew protection"): on by default.
-- skew_protection: 1 = pins and the fingerprinted-asset fallback apply, 0 = neither (misses
-- take the ordinary not-found path again). skew_pin_secs: the pin cookie's Max-Age.
-- skew_depth: how many earlier production deployments a fingerprinted miss is looked up in.
ALTER TABLE projects ADD COLUMN skew_protection INTEGER NOT NULL DEFAULT 1;
ALTER TABLE projects ADD COLUMN skew_pin_secs INTEGER NOT NULL DEFAULT 86400;
ALTER TABLE projects ADD COLUMN skew_depth INTEGER NOT NULL DEFAULT 5;
