-- The bytes of an image's thumbnail, counted against its owner's storage quota
-- with the upload's own (src/repositories/uploads.ts lockedUsage). Uploads
-- stored before this count their thumbnail as 0.
ALTER TABLE uploads ADD COLUMN thumbnail_size integer NOT NULL DEFAULT 0;
