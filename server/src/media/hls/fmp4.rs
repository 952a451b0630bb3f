//! CMAF/fMP4 boxes with `mp4-atom`: the init segment (`ftyp` + `moov`: an H.264 video track 1
//! with its `avcC`, an Opus audio track 2 with its `dOps` when the program has audio, and the
//! `mvex` that says the samples come in fragments) and one fragment per part (`moof` + `mdat`:
//! a `traf` per track with a `tfdt` and a `trun` of sample durations, sizes and sync flags).
//! Pure: bytes in, bytes out. A segment file is its parts' fragments one after the other.

use bytes::Bytes;
use mp4_atom::{
    Audio, Avc1, Avcc, Dinf, Dops, Dref, Encode, Ftyp, Hdlr, Mdat, Mdhd, Mdia, Mfhd, Minf, Moof,
    Moov, Mvex, Mvhd, Opus, Smhd, Stbl, Stsd, Tfdt, Tfhd, Tkhd, Traf, Trak, Trex, Trun, TrunEntry,
    Url, Visual, Vmhd,
};

pub const VIDEO_TRACK: u32 = 1;
pub const AUDIO_TRACK: u32 = 2;
/// The video track's timescale (the RTP clock of H.264).
pub const VIDEO_RATE: u32 = 90_000;
/// The audio track's timescale (Opus's RTP clock).
pub const AUDIO_RATE: u32 = 48_000;

/// What an init segment declares: the video's parameter sets and size, and whether there is
/// an audio track. A change of any of it is a new init version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitParams {
    pub sps: Bytes,
    pub pps: Bytes,
    pub width: u16,
    pub height: u16,
    pub audio: bool,
}

/// One sample (an access unit or an Opus packet) of a fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// Decode time in the track's timescale (no B-frames: also its presentation time).
    pub dts: u64,
    pub duration: u32,
    /// Video: a keyframe (IDR); audio: always.
    pub sync: bool,
    /// Video: AVC length-prefixed NAL units; audio: one Opus packet.
    pub data: Bytes,
}

const SYNC_FLAGS: u32 = 0x0200_0000; // sample_depends_on = 2 (depends on nothing)
const NON_SYNC_FLAGS: u32 = 0x0101_0000; // depends on others, is_non_sync_sample

fn encode(atom: &impl Encode, out: &mut Vec<u8>) -> Result<(), mp4_atom::Error> {
    atom.encode(out)
}

/// The init segment.
pub fn init(params: &InitParams) -> Result<Bytes, mp4_atom::Error> {
    let ftyp = Ftyp {
        major_brand: b"iso6".into(),
        minor_version: 0,
        compatible_brands: vec![b"iso6".into(), b"cmfc".into(), b"mp41".into()],
    };
    let mut trak = vec![video_trak(params)?];
    let mut trex = vec![trex(VIDEO_TRACK)];
    if params.audio {
        trak.push(audio_trak());
        trex.push(self::trex(AUDIO_TRACK));
    }
    let moov = Moov {
        mvhd: Mvhd {
            timescale: 1000,
            rate: 1.into(),
            volume: 1.into(),
            next_track_id: AUDIO_TRACK + 1,
            ..Default::default()
        },
        mvex: Some(Mvex { mehd: None, trex }),
        trak,
        ..Default::default()
    };
    let mut out = Vec::with_capacity(1024);
    encode(&ftyp, &mut out)?;
    encode(&moov, &mut out)?;
    Ok(Bytes::from(out))
}

fn trex(track_id: u32) -> Trex {
    Trex {
        track_id,
        default_sample_description_index: 1,
        ..Default::default()
    }
}

fn dinf() -> Dinf {
    Dinf {
        dref: Dref {
            entries: vec![Url::default().into()],
        },
    }
}

fn video_trak(params: &InitParams) -> Result<Trak, mp4_atom::Error> {
    let avcc = Avcc::new(&params.sps, &params.pps)?;
    let avc1 = Avc1 {
        visual: Visual {
            data_reference_index: 1,
            width: params.width,
            height: params.height,
            horizresolution: 72.into(),
            vertresolution: 72.into(),
            frame_count: 1,
            compressor: "".into(),
            depth: 24,
        },
        avcc,
        btrt: None,
        colr: None,
        pasp: None,
        taic: None,
        fiel: None,
        spatial: None,
    };
    Ok(Trak {
        tkhd: Tkhd {
            track_id: VIDEO_TRACK,
            enabled: true,
            in_movie: true,
            width: params.width.into(),
            height: params.height.into(),
            ..Default::default()
        },
        mdia: Mdia {
            mdhd: Mdhd {
                timescale: VIDEO_RATE,
                language: "und".into(),
                ..Default::default()
            },
            hdlr: Hdlr {
                handler: b"vide".into(),
                name: "livesale video".into(),
            },
            minf: Minf {
                vmhd: Some(Vmhd::default()),
                dinf: dinf(),
                stbl: Stbl {
                    stsd: Stsd {
                        codecs: vec![avc1.into()],
                    },
                    stco: Some(Default::default()),
                    ..Default::default()
                },
                ..Default::default()
            },
        },
        ..Default::default()
    })
}

fn audio_trak() -> Trak {
    let opus = Opus {
        audio: Audio {
            data_reference_index: 1,
            channel_count: 2,
            sample_size: 16,
            sample_rate: 48000u16.into(),
        },
        dops: Dops {
            output_channel_count: 2,
            pre_skip: 0,
            input_sample_rate: AUDIO_RATE,
            output_gain: 0,
            channel_mapping: None,
        },
        btrt: None,
    };
    Trak {
        tkhd: Tkhd {
            track_id: AUDIO_TRACK,
            enabled: true,
            in_movie: true,
            alternate_group: 1,
            volume: 1.into(),
            ..Default::default()
        },
        mdia: Mdia {
            mdhd: Mdhd {
                timescale: AUDIO_RATE,
                language: "und".into(),
                ..Default::default()
            },
            hdlr: Hdlr {
                handler: b"soun".into(),
                name: "livesale audio".into(),
            },
            minf: Minf {
                smhd: Some(Smhd::default()),
                dinf: dinf(),
                stbl: Stbl {
                    stsd: Stsd {
                        codecs: vec![opus.into()],
                    },
                    stco: Some(Default::default()),
                    ..Default::default()
                },
                ..Default::default()
            },
        },
        ..Default::default()
    }
}

fn traf(track_id: u32, samples: &[Sample], data_offset: i32) -> Traf {
    let entries: Vec<TrunEntry> = samples
        .iter()
        .map(|s| TrunEntry {
            duration: Some(s.duration),
            size: Some(s.data.len() as u32),
            flags: Some(if s.sync { SYNC_FLAGS } else { NON_SYNC_FLAGS }),
            cts: None,
        })
        .collect();
    Traf {
        tfhd: Tfhd {
            track_id,
            default_base_is_moof: true,
            ..Default::default()
        },
        tfdt: Some(Tfdt {
            base_media_decode_time: samples.first().map_or(0, |s| s.dts),
        }),
        trun: vec![Trun {
            data_offset: Some(data_offset),
            samples: entries.into(),
        }],
        ..Default::default()
    }
}

/// One fragment: `moof` (sequence number `sequence`) and `mdat` with the video samples, then
/// the audio samples. A track without samples gets no `traf`.
pub fn fragment(
    sequence: u32,
    video: &[Sample],
    audio: &[Sample],
) -> Result<Bytes, mp4_atom::Error> {
    let video_bytes: usize = video.iter().map(|s| s.data.len()).sum();
    let build = |moof_size: i32| {
        let mut traf_list = Vec::new();
        let data_start = moof_size + 8; // the mdat header
        if !video.is_empty() {
            traf_list.push(traf(VIDEO_TRACK, video, data_start));
        }
        if !audio.is_empty() {
            traf_list.push(traf(AUDIO_TRACK, audio, data_start + video_bytes as i32));
        }
        Moof {
            mfhd: Mfhd {
                sequence_number: sequence,
            },
            traf: traf_list,
        }
    };
    // The offsets have a fixed width: encode once to learn the moof's size.
    let mut probe = Vec::new();
    encode(&build(0), &mut probe)?;
    let moof = build(probe.len() as i32);
    let mut data =
        Vec::with_capacity(video_bytes + audio.iter().map(|s| s.data.len()).sum::<usize>());
    for s in video.iter().chain(audio) {
        data.extend_from_slice(&s.data);
    }
    let mut out = Vec::with_capacity(probe.len() + data.len() + 8);
    encode(&moof, &mut out)?;
    encode(&Mdat { data }, &mut out)?;
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mp4_atom::{Any, Decode};

    fn params(audio: bool) -> InitParams {
        InitParams {
            sps: Bytes::from_static(&[0x67, 0x42, 0xc0, 0x0d, 0xd9, 0x01, 0x41, 0xfb]),
            pps: Bytes::from_static(&[0x68, 0xce, 0x3c, 0x80]),
            width: 320,
            height: 240,
            audio,
        }
    }

    #[test]
    fn the_init_segment_has_a_track_per_kind_and_fragments_point_at_their_data() {
        let bytes = init(&params(true)).unwrap();
        let buf = &mut std::io::Cursor::new(bytes.as_ref());
        assert!(matches!(Any::decode(buf).unwrap(), Any::Ftyp(_)));
        let Any::Moov(moov) = Any::decode(buf).unwrap() else {
            panic!("no moov")
        };
        assert_eq!(moov.trak.len(), 2);
        assert_eq!(moov.mvex.unwrap().trex.len(), 2);
        assert_eq!(moov.trak[0].tkhd.width, 320u16.into());
        let video_only = init(&params(false)).unwrap();
        assert!(video_only.len() < bytes.len());

        let video = vec![
            Sample {
                dts: 9000,
                duration: 3000,
                sync: true,
                data: Bytes::from_static(&[0, 0, 0, 2, 0x65, 1]),
            },
            Sample {
                dts: 12000,
                duration: 3000,
                sync: false,
                data: Bytes::from_static(&[0, 0, 0, 1, 0x41]),
            },
        ];
        let audio = vec![Sample {
            dts: 4800,
            duration: 960,
            sync: true,
            data: Bytes::from_static(&[0xfc, 1, 2]),
        }];
        let frag = fragment(7, &video, &audio).unwrap();
        let buf = &mut std::io::Cursor::new(frag.as_ref());
        let Any::Moof(moof) = Any::decode(buf).unwrap() else {
            panic!("no moof")
        };
        let moof_len = buf.position() as i32;
        assert_eq!(moof.mfhd.sequence_number, 7);
        assert_eq!(
            moof.traf[0].tfdt.as_ref().unwrap().base_media_decode_time,
            9000
        );
        assert_eq!(moof.traf[0].trun[0].data_offset, Some(moof_len + 8));
        assert_eq!(moof.traf[1].trun[0].data_offset, Some(moof_len + 8 + 11));
        let entries: Vec<_> = moof.traf[0].trun[0].samples.iter().collect();
        assert_eq!(entries[0].flags, Some(SYNC_FLAGS));
        assert_eq!(entries[1].flags, Some(NON_SYNC_FLAGS));
        assert_eq!(entries[1].size, Some(5));
        let Any::Mdat(mdat) = Any::decode(buf).unwrap() else {
            panic!("no mdat")
        };
        assert_eq!(mdat.data.len(), 14);
        assert_eq!(&mdat.data[11..], &[0xfc, 1, 2]);
    }
}
